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

	"initns/daemon/internal/hostshell"
)

// shell is a host shell kept on a terminal.
type shell struct {
	tty  string // a name under /dev such as "ttyS0", or a path
	path string // the shell; "" means the first of hostshell.Shells
}

// KeepShell keeps a host shell on the terminal tty (a name under /dev such
// as "ttyS0", or a path) until ctx ends: the shell, started as package
// hostshell starts every host shell, runs as a new session with the
// terminal as its controlling terminal, and is started again whenever it
// exits (after a pause that grows while it keeps failing at once). When
// ctx ends, the shell's session gets SIGHUP, as a hangup of the terminal
// would send.
func KeepShell(ctx context.Context, tty string, log *slog.Logger) {
	(&shell{tty: tty}).keep(ctx, log)
}

// RunShell runs one host shell on tty (as KeepShell starts each) and
// returns when it exits, or hangs it up when ctx ends: the boot menu's
// shell key.
func RunShell(ctx context.Context, tty string) error {
	if !strings.HasPrefix(tty, "/") {
		tty = filepath.Join("/dev", tty)
	}
	return (&shell{tty: tty}).run(ctx, tty)
}

func (s *shell) keep(ctx context.Context, log *slog.Logger) {
	tty := s.tty
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
func (s *shell) run(ctx context.Context, tty string) error {
	sh := s.path
	if sh == "" {
		var err error
		if sh, err = hostshell.Find(hostshell.Shells); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(tty, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open terminal: %w", err)
	}
	pid, exit, err := hostshell.Start(sh, int(f.Fd()))
	f.Close()
	if err != nil {
		return err
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
