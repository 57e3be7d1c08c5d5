package console

import (
	"log/slog"
	"sync"
	"time"

	"initns/daemon/internal/hostshell"
	"initns/vt"
)

// Config says where the shell lives. The zero value of each field means
// the default of SPEC §7.
type Config struct {
	VT            int           // the shell's VT; default 63 (/dev/tty63)
	HomeVT        int           // the VT given back when the shell ends; default 1
	Shells        []string      // the shells tried in order; default /bin/bash, /bin/sh
	FreezeTimeout time.Duration // bound on the freeze; default 5s
	SwitchTimeout time.Duration // bound on each VT switch; default 5s
	// ReleaseTimeout bounds how long a display server of an instance left
	// by `switch` has to release its VT; default 1s.
	ReleaseTimeout time.Duration
	// ParkVT is where the console waits while a display server releases a
	// VT that the arriving instance uses too; default 62.
	ParkVT     int
	EndTimeout time.Duration // bound on ending the shell's session; default 5s
	Proc       string        // where processes are listed; default /proc
	// ChordKeys are the keys (evdev codes) of the daemon's Ctrl+Alt
	// chords, kept from the programs on the VTs (TakeChords); none by
	// default.
	ChordKeys []uint16
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration) {
		if *d == 0 {
			*d = 5 * time.Second
		}
	}
	def(&c.FreezeTimeout)
	def(&c.SwitchTimeout)
	def(&c.EndTimeout)
	if c.VT == 0 {
		c.VT = 63
	}
	if c.ReleaseTimeout == 0 {
		c.ReleaseTimeout = time.Second
	}
	if c.ParkVT == 0 {
		c.ParkVT = 62
	}
	if c.HomeVT == 0 {
		c.HomeVT = 1
	}
	if len(c.Shells) == 0 {
		c.Shells = hostshell.Shells
	}
	if c.Proc == "" {
		c.Proc = "/proc"
	}
	return c
}

// phase is where the Manager is between two transitions.
type phase int

const (
	idle    phase = iota // no shell
	opening              // Chord is freezing and starting the shell
	open                 // the shell lives
	closing              // the shell's session is being ended
)

// Manager runs the host shell. Its transitions (open, close) never
// overlap: a transition marks its phase under the Manager's lock, then
// works without it. The locking rule: the Manager's lock is held only to
// read and change the phase and lastLeft, never across a Host call, a VT
// switch or a wait, so a caller may hold its own locks while calling
// EndShell and the Host may take those same locks.
type Manager struct {
	host Host
	log  *slog.Logger
	cfg  Config

	mu     sync.Mutex
	phase  phase
	cancel bool   // EndShell came while opening
	sh     *shell // the shell, while open or closing
	// nextHome is the VT the shell's end switches to instead of HomeVT:
	// an instance that got the console by `switch` while the shell had it.
	nextHome int
	// lastLeft is, by VT, the instance that last left the console from it
	// (Leave): whose keys wait in its input queue.
	lastLeft map[int]string

	keymapMu sync.Mutex
	// keymap holds the entries TakeChords changed, as they were, by table
	// and key.
	keymap      map[[2]uint8]vt.KeymapEntry
	chordsGiven bool // GiveBackChords was called
}

// New returns a Manager with no shell. log receives every transition; nil
// discards them.
func New(host Host, log *slog.Logger, cfg Config) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{host: host, log: log, cfg: cfg.withDefaults(), lastLeft: map[int]string{}}
}

// Chord is the hotkey. If the shell lives, it brings the shell's VT to
// front again. Otherwise it freezes the running instance (bounded by
// FreezeTimeout; past it the shell opens anyway, naming the tasks that
// would not freeze), starts the shell as a new session on the shell's VT
// and switches there, holding the VT in VT_PROCESS mode. It returns when
// the shell is open, or at once if a transition is under way (a second
// chord while the first is being handled is dropped). Safe to call from
// any goroutine; the hotkey should call it on its own goroutine.
func (m *Manager) Chord() {
	m.TakeChords()
	m.mu.Lock()
	switch m.phase {
	case open:
		sh := m.sh
		m.mu.Unlock()
		m.log.Info("console: chord with the host shell alive; switching back to it")
		m.front(sh.term)
		return
	case opening, closing:
		m.mu.Unlock()
		m.log.Info("console: chord ignored, a console transition is under way")
		return
	}
	m.phase, m.cancel = opening, false
	m.mu.Unlock()
	m.open()
}

// EndShell ends the host shell for `run` of the frozen instance: it ends
// every process of the shell's session, waits until none is left (reaped,
// no zombie), gives the VT back to the kernel (VT_AUTO) and switches to
// HomeVT. It does not thaw: the caller does. It returns once that is done,
// or at once when there is no shell. If the shell is being opened, it
// makes the opening undo itself (end the shell, thaw what it froze) and
// returns without waiting, since the opening may be waiting in
// Host.FreezeRunning for a lock the caller holds.
func (m *Manager) EndShell() {
	m.mu.Lock()
	switch m.phase {
	case idle:
		m.mu.Unlock()
	case opening:
		m.cancel = true
		m.mu.Unlock()
		m.log.Info("console: shell end requested while it opens; the opening will undo itself")
	case closing:
		// The shell exited by itself and is being closed. Wait for its
		// session and VT, not for the thaw that follows: that thaw may
		// need a lock the caller holds.
		done := m.sh.done
		m.mu.Unlock()
		<-done
	case open:
		sh := m.sh
		m.phase = closing
		m.mu.Unlock()
		m.log.Info("console: ending the host shell", "pid", sh.pid)
		m.close(sh)
		m.toIdle()
		m.log.Info("console: host shell ended", "pid", sh.pid)
	}
}

// ShellPid returns the pid of the living shell (also its session id), or
// 0 when no shell is open.
func (m *Manager) ShellPid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.phase != open {
		return 0
	}
	return m.sh.pid
}

// watch waits for the shell to exit on its own (`exit`) and then does
// what `run` would: end the session, give the console back, and thaw the
// instance frozen for the shell. If EndShell is already ending the shell,
// it leaves that to EndShell.
func (m *Manager) watch(sh *shell) {
	<-sh.exited
	m.mu.Lock()
	if m.sh != sh || m.phase != open {
		m.mu.Unlock()
		return
	}
	m.phase = closing
	m.mu.Unlock()
	m.log.Info("console: host shell exited", "pid", sh.pid, "status", sh.status.String())
	m.close(sh)
	// Still closing while the Host thaws: a chord now must not freeze
	// again before this thaw, which would then undo the new freeze.
	m.thaw(sh.frozen)
	m.toIdle()
	m.log.Info("console: host shell ended", "pid", sh.pid)
}

// toIdle ends a transition.
func (m *Manager) toIdle() {
	m.mu.Lock()
	m.phase, m.sh = idle, nil
	m.mu.Unlock()
}

// thaw asks the Host to thaw what the shell's opening froze.
func (m *Manager) thaw(name string) {
	if name == "" {
		return
	}
	if err := m.host.ThawFrozen(name); err != nil {
		m.log.Error("console: thaw after the host shell", "instance", name, "err", err)
	}
}
