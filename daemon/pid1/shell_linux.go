package pid1

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"initns/reaper"
)

// ShellEnv is the environment of a host shell started by the daemon.
var ShellEnv = []string{
	"HOME=/root",
	"TERM=linux",
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}

// ShellPath returns /bin/bash if it exists, else /bin/sh.
func ShellPath() string {
	if _, err := os.Stat("/bin/bash"); err == nil {
		return "/bin/bash"
	}
	return "/bin/sh"
}

// Shell is a host shell kept on a terminal.
type Shell struct {
	TTY  string   // a name under /dev such as "ttyS0", or a path
	Path string   // the shell; "" means ShellPath()
	Env  []string // nil means ShellEnv
}

// KeepShell keeps a host shell on the terminal tty (a name under /dev such
// as "ttyS0", or a path) until ctx ends: the shell runs as a new session
// with the terminal as its controlling terminal, and is started again
// whenever it exits (after a pause that grows while it keeps failing at
// once). When ctx ends, the shell's session gets SIGHUP, as a hangup of the
// terminal would send. The shell is started and waited for through
// package reaper, which owns wait4.
func KeepShell(ctx context.Context, tty string, log *slog.Logger) {
	(&Shell{TTY: tty}).Keep(ctx, log)
}

// Keep is KeepShell for s.
func (s *Shell) Keep(ctx context.Context, log *slog.Logger) {
	tty := s.TTY
	if !strings.HasPrefix(tty, "/") {
		tty = filepath.Join("/dev", tty)
	}
	pause := time.Second
	for ctx.Err() == nil {
		start := time.Now()
		if err := s.run(ctx, tty); err != nil {
			log.Error("host shell", "tty", tty, "err", err)
		}
		if time.Since(start) > 10*time.Second {
			pause = time.Second
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 30*time.Second)
	}
}

// run starts one shell on tty and waits until it exits or ctx ends.
func (s *Shell) run(ctx context.Context, tty string) error {
	f, err := os.OpenFile(tty, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open terminal: %w", err)
	}
	defer f.Close()
	sh, env := s.Path, s.Env
	if sh == "" {
		sh = ShellPath()
	}
	if env == nil {
		env = ShellEnv
	}
	fd := f.Fd()
	attr := &syscall.ProcAttr{
		Dir:   "/",
		Env:   env,
		Files: []uintptr{fd, fd, fd},
		// Ctty is a descriptor number in the child: its stdin.
		Sys: &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0},
	}
	pid, exit, err := reaper.Start(sh, []string{filepath.Base(sh)}, attr)
	if err != nil {
		return fmt.Errorf("start %s: %w", sh, err)
	}
	select {
	case <-exit:
		return nil
	case <-ctx.Done():
		// The shell leads its own session and process group.
		syscall.Kill(-pid, syscall.SIGHUP)
		syscall.Kill(-pid, syscall.SIGCONT)
		<-exit
		return nil
	}
}
