package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
)

// Main runs the daemon. As PID 1 it never returns.
func Main(args []string) int {
	pid1 := os.Getpid() == 1
	cfg, extra, err := parseFlags(args[1:], os.Stderr)
	if err != nil && !pid1 {
		return 2
	}
	log, err := setupLog(cfg, pid1)
	if err != nil {
		return fatal(pid1, err)
	}
	if len(extra) > 0 {
		log.Info("ignoring arguments", "args", extra)
	}
	d, err := newDaemon(cfg, log, pid1)
	if err != nil {
		log.Error("start", "err", err)
		return fatal(pid1, err)
	}
	l, err := listen(cfg.Socket)
	if err != nil {
		log.Error("start", "err", err)
		return fatal(pid1, err)
	}
	log.Info("ready", "socket", cfg.Socket, "root", cfg.Root, "cgroup", d.parent.Path, "pid1", pid1)
	go d.serve(l)
	how := d.wait()
	l.Close()
	os.Remove(cfg.Socket)
	log.Info("shutdown", "how", how)
	return 0
}

func setupLog(cfg Config, pid1 bool) (*slog.Logger, error) {
	if err := os.MkdirAll(cfg.Root, 0o711); err != nil {
		return nil, fmt.Errorf("create state root: %w", err)
	}
	f, err := openLog(cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return newLogger(f, nil), nil
}

// fatal ends a daemon that cannot start; PID 1 must never exit, so it
// reports and waits forever instead (the kernel would panic otherwise).
func fatal(pid1 bool, err error) int {
	fmt.Fprintln(os.Stderr, "init:", err)
	if !pid1 {
		return 1
	}
	for {
		time.Sleep(time.Hour)
	}
}

// wait handles signals until a reboot or poweroff is asked for, and
// returns which.
func (d *Daemon) wait() string {
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, unix.SIGTERM, unix.SIGINT, unix.SIGUSR2, unix.SIGPWR, unix.SIGHUP)
	for {
		select {
		case how := <-d.shutdown:
			return how
		case s := <-sig:
			d.log.Info("signal", "signal", s)
			switch s {
			case unix.SIGINT, unix.SIGTERM:
				go d.powerDown("reboot")
			case unix.SIGUSR2, unix.SIGPWR:
				go d.powerDown("poweroff")
			}
		}
	}
}
