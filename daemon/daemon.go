package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"initns/cgroupfs"
	"initns/hostkernel"
	"initns/store"
)

// Daemon is the running daemon's state.
type Daemon struct {
	cfg    Config
	log    *slog.Logger
	store  *store.Store
	parent *cgroupfs.Parent
	lock   *os.File // the state root's lock, held while the daemon lives

	// life serializes every transition of the machine's holder: run, stop,
	// freeze, thaw and the console's. Long store work never holds it.
	life sync.Mutex

	mu          sync.Mutex        // guards the fields below; held only briefly
	active      *boot             // the instance that has the console, running or frozen
	resident    map[string]*boot  // instances frozen in the background by switch
	ended       map[string]string // how each instance's last boot ended
	busy        map[string]string // instance -> long operation under way
	disk        map[string]int64  // instance -> its own disk use, measured in the background
	memWatching bool              // the memory watcher runs (while resident instances exist)
	// endMenu ends the boot menu while it shows, and returns once the
	// console is restored; nil otherwise.
	endMenu func()

	hist *store.History // the boot history (boots_linux.go)

	// handle runs one request; dispatch, but for the socket's fuzz tests.
	handle func(ctx context.Context, p peer, verb string, c *call) (any, error)
	// endShell ends the host shell of a frozen instance, if one lives.
	endShell func()
	// shutdown receives "reboot" or "poweroff" to end the daemon.
	shutdown chan string
	// screens moves the VTs with the console at a switch; a no-op when the
	// daemon does not own the console (--hotkey=false).
	screens screens
	// orderMu serializes the writes of the store's console order.
	orderMu sync.Mutex
}

// newDaemon opens the store and the parent cgroup.
func newDaemon(cfg Config, log *slog.Logger, pid1 bool) (*Daemon, error) {
	lock, err := lockRoot(cfg.Root)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("open state root %s: %w", cfg.Root, err)
	}
	// Overlay instances are browsable at rootfs/NAME while the daemon runs.
	if err := st.MountAll(); err != nil {
		log.Error("mount overlay instances", "err", err)
	}
	if cfg.Cgroup == "" {
		mnt, err := cgroupfs.FindMount()
		if err != nil && pid1 {
			mnt, err = cgroupfs.MountDefault()
		}
		if err != nil {
			return nil, err
		}
		cfg.Cgroup = filepath.Join(mnt, "initns")
	}
	parent, err := cgroupfs.OpenParent(cfg.Cgroup)
	if err != nil {
		return nil, err
	}
	if cfg.Host == (hostkernel.Host{}) {
		cfg.Host = hostkernel.Running()
	}
	// The history informs; a broken one is logged and started afresh.
	hist, err := st.History()
	if err != nil {
		log.Error("boot history", "err", err)
	}
	hist.OnError = func(err error) { log.Error("boot history", "err", err) }
	d := &Daemon{
		cfg: cfg, log: log, store: st, parent: parent, lock: lock, hist: hist,
		ended:    map[string]string{},
		resident: map[string]*boot{},
		busy:     map[string]string{},
		disk:     map[string]int64{},
		endShell: func() {},
		screens:  noScreens{},
		shutdown: make(chan string, 1),
	}
	d.handle = d.dispatch
	return d, nil
}

// endConsole ends the host shell of a frozen instance, if one lives.
func (d *Daemon) endConsole() { d.endShell() }

// claim marks name busy with op for a long operation; release undoes it.
func (d *Daemon) claim(name, op string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur, ok := d.busy[name]; ok {
		return fmt.Errorf("instance %s is %w: %s under way; try again when it finishes", name, store.ErrBusy, cur)
	}
	d.busy[name] = op
	return nil
}

// claimStopped claims name for op only if it is neither running nor frozen.
func (d *Daemon) claimStopped(name, op string) error {
	if err := d.claim(name, op); err != nil {
		return err
	}
	// A boot claims the name too, and publishes itself before it releases
	// its claim: holding the claim, the check below cannot race a boot.
	if b := d.live(name); b != nil {
		d.release(name)
		if d.isResident(b) {
			return fmt.Errorf("instance %s %w (resident: frozen in the background): stop it first (initns stop %s)", name, ErrRunning, name)
		}
		return fmt.Errorf("instance %s %w: stop it first (initns stop %s)", name, ErrRunning, name)
	}
	return nil
}

func (d *Daemon) release(name string) {
	d.mu.Lock()
	delete(d.busy, name)
	d.mu.Unlock()
}
