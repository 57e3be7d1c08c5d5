package daemon

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"

	"initns/daemon/pid1"
	"initns/reaper"
)

// Main runs the daemon. As PID 1 it never returns.
func Main(args []string) int {
	isPID1 := os.Getpid() == 1
	if isPID1 {
		defer forever()
	} else {
		stdio()
	}
	// PID 1 must reap orphans from its first moment; elsewhere starting now
	// keeps the daemon's goroutines the same from start to end.
	reaper.Run()
	setMemoryLimit()
	// Registered first, so a Ctrl+Alt+Del during start-up is queued, not lost.
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, unix.SIGTERM, unix.SIGINT, unix.SIGUSR2, unix.SIGPWR, unix.SIGHUP)
	cfg, extra, err := parseFlags(args[1:], os.Stderr)
	if err != nil && !isPID1 {
		return 2
	}
	var boot pid1.Settings
	if isPID1 {
		bootLog := slog.New(pid1.NewKmsgHandler(slog.NewTextHandler(os.Stderr, nil)))
		boot = pid1.Setup(bootLog)
		cfg.apply(boot, bootLog)
		cfg.Boot.Start = true
	}
	log, err := setupLog(cfg, isPID1)
	if err != nil {
		return fatal(isPID1, err)
	}
	if len(extra) > 0 {
		log.Info("ignoring arguments", "args", extra)
	}
	if isPID1 {
		// Beside the daemon's start, into its log, not the console: the
		// keyboard's driver among them (the hotkey waits for the device).
		spawn(log, "kernel modules", func() { pid1.LoadModules(log, boot) })
	}
	d, err := newDaemon(cfg, log, isPID1)
	if err != nil {
		log.Error("start", "err", err)
		return fatal(isPID1, err)
	}
	d.adopt()
	l, err := listen(cfg.Socket)
	if err != nil {
		log.Error("start", "err", err)
		return fatal(isPID1, err)
	}
	log.Info("ready", "socket", cfg.Socket, "root", cfg.Root, "cgroup", d.parent.Path, "pid1", isPID1)
	spawn(log, "accept", func() { d.serve(l) })
	spawn(log, "disk use", d.measureAll)
	if cfg.Boot.Start {
		spawn(log, "boot at start", func() { d.bootAtStart() })
	}
	ctx, stopShell := context.WithCancel(context.Background())
	var consoleDone <-chan struct{}
	if cfg.Hotkey {
		consoleDone = d.startConsole(ctx)
	}
	if boot.Shell != "" {
		spawn(log, "serial shell", func() { pid1.KeepShell(ctx, boot.Shell, log) })
	}
	how := d.wait(sig)
	d.flushHistory()
	stopShell()
	// The keyboards' watcher gives the chords back to the keymap as it
	// ends: a daemon that ends on a running machine leaves it as it was.
	if consoleDone != nil {
		select {
		case <-consoleDone:
		case <-time.After(2 * time.Second):
		}
	}
	l.Close()
	os.Remove(cfg.Socket)
	if err := d.store.UnmountAll(); err != nil {
		log.Error("unmount overlay instances", "err", err)
	}
	log.Info("shutdown", "how", how)
	if isPID1 {
		powerOff(how, log)
	}
	return 0
}

// memoryLimit is the daemon's soft limit on the memory the Go runtime
// holds (RELIABILITY.md, "Resource budget"): twice the largest decoder
// window a request may need (xz dictionary, zstd window: 128 MiB), room for
// one such request and the daemon's own few MiB. Near it the collector runs
// harder instead of letting garbage double the heap; it bounds neither live
// memory (a soft limit) nor memory outside the Go heap.
const memoryLimit = 256 << 20

// setMemoryLimit sets memoryLimit, unless GOMEMLIMIT chose another.
func setMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// apply takes the daemon's settings from the kernel command line
// (initns.root=, initns.socket=, initns.debug=1), over the flags.
func (c *Config) apply(s pid1.Settings, log *slog.Logger) {
	if v := s.Get("root"); v != "" {
		c.Root = v
		c.Log = v + "/log"
	}
	if v := s.Get("socket"); v != "" {
		c.Socket = v
	}
	c.Debug = c.Debug || s.Debug
	c.applySwitch(s.Values, log)
	c.applyBoot(s, log)
}

// applySwitch takes the settings of switchFlags from the kernel command
// line (initns.resident-max=2, initns.switch-keys=...). A bad value is
// logged and the flag's value kept: PID 1 never stops on a usage error.
func (c *Config) applySwitch(values map[string]string, log *slog.Logger) {
	fs := flag.NewFlagSet("initns.", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	keep := *c
	c.switchFlags(fs)
	*c = keep // switchFlags set the defaults again
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := values[f.Name]; ok {
			if err := fs.Set(f.Name, v); err != nil {
				log.Error("kernel command line", "setting", "initns."+f.Name, "err", err)
			}
		}
	})
	if err := c.checkBudget(); err != nil {
		log.Error("kernel command line", "err", err)
		c.ResidentMax, c.Memory = keep.ResidentMax, keep.Memory
	}
}

func setupLog(cfg Config, isPID1 bool) (*slog.Logger, error) {
	if err := os.MkdirAll(cfg.Root, 0o711); err != nil {
		return nil, fmt.Errorf("create state root: %w", err)
	}
	f, err := openLog(cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	h := slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})
	if isPID1 {
		// Errors also reach the kernel log, where they survive the daemon.
		return slog.New(pid1.NewKmsgHandler(h)), nil
	}
	return slog.New(h), nil
}

// fatal ends a daemon that cannot start. PID 1 must never exit (the kernel
// would panic), so it reports and stays.
func fatal(isPID1 bool, err error) int {
	fmt.Fprintln(os.Stderr, "init:", err)
	if isPID1 {
		pid1.Kmsg().Write([]byte("<3>initns: cannot start: " + err.Error()))
		forever()
	}
	return 1
}

// stdio opens /dev/null on whichever of descriptors 0-2 is closed, so no
// file the daemon opens later lands there and is mistaken for stdio by a
// child.
func stdio() {
	for fd := 0; fd < 3; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			if null, err := unix.Open("/dev/null", unix.O_RDWR, 0); err == nil && null != fd {
				unix.Dup3(null, fd, 0)
				unix.Close(null)
			}
		}
	}
}

// forever keeps PID 1 alive whatever happened: a panic that reached Main
// is logged, then the process sleeps and still reaps orphans.
func forever() {
	if r := recover(); r != nil {
		msg := fmt.Sprintf("<2>initns: panic: %v\n%s", r, debug.Stack())
		pid1.Kmsg().Write([]byte(msg))
		fmt.Fprintln(os.Stderr, msg)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// powerOff syncs and reboots or powers off the machine. It returns only if
// the kernel refused, and then PID 1 stays.
func powerOff(how string, log *slog.Logger) {
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_RESTART
	if how == "poweroff" {
		cmd = unix.LINUX_REBOOT_CMD_POWER_OFF
	}
	err := unix.Reboot(cmd)
	log.Error(how, "err", err)
	forever()
}

// wait handles signals until a reboot or poweroff is asked for, and
// returns which. SIGINT (Ctrl+Alt+Del, with the kernel's immediate reboot
// turned off) and SIGTERM mean reboot; SIGUSR2 and SIGPWR mean poweroff.
// Every signal the daemon takes has a handler: at PID 1 the kernel drops a
// signal without one, and a Go program can then spin on it (golang/go#59569).
func (d *Daemon) wait(sig <-chan os.Signal) string {
	for {
		select {
		case how := <-d.shutdown:
			return how
		case s := <-sig:
			d.log.Info("signal", "signal", s)
			switch s {
			case unix.SIGINT, unix.SIGTERM:
				spawn(d.log, "reboot", func() { d.powerDown("reboot") })
			case unix.SIGUSR2, unix.SIGPWR:
				spawn(d.log, "poweroff", func() { d.powerDown("poweroff") })
			}
		}
	}
}
