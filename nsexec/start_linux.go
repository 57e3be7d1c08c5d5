package nsexec

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"initns/daemon/reaper"
)

// Config says what to boot and where.
type Config struct {
	Rootfs   string // host path of the instance's root filesystem
	CgroupFD int    // open directory of the instance's (empty) cgroup
	Console  string // the terminal for init's stdin, stdout and stderr
	PidFD    *int   // if set, receives a pidfd of the instance's init
}

// ErrBoot wraps every failure of the stage before /sbin/init ran.
var ErrBoot = errors.New("boot failed")

// Start boots the instance's init and returns its host pid and a channel
// with its exit. It returns only after the child has exec'd /sbin/init, or
// with the reason it could not (the child has then been reaped).
func Start(cfg Config) (int, <-chan reaper.Exit, error) {
	console, err := os.OpenFile(cfg.Console, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("open console %s: %w", cfg.Console, err)
	}
	defer console.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return 0, nil, err
	}
	defer r.Close()
	attr := &syscall.ProcAttr{
		Env:   []string{"HOME=/", "TERM=linux"},
		Files: []uintptr{console.Fd(), console.Fd(), console.Fd(), w.Fd()},
		Sys: &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWCGROUP,
			UseCgroupFD: true,
			CgroupFD:    cfg.CgroupFD,
			Setsid:      true,
			PidFD:       cfg.PidFD,
		},
	}
	pid, exit, err := reaper.Start("/proc/self/exe", []string{Stage, cfg.Rootfs}, attr)
	w.Close()
	if err != nil {
		return 0, nil, fmt.Errorf("%w: clone: %w", ErrBoot, err)
	}
	// The pipe closes without data when execve succeeds (close-on-exec).
	msg, _ := io.ReadAll(r)
	if len(msg) > 0 {
		<-exit
		if cfg.PidFD != nil && *cfg.PidFD > 0 {
			unix.Close(*cfg.PidFD)
			*cfg.PidFD = -1
		}
		return 0, nil, fmt.Errorf("%w: %s", ErrBoot, strings.TrimSpace(string(msg)))
	}
	return pid, exit, nil
}
