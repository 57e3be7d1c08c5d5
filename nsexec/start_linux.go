package nsexec

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"initns/reaper"
)

// Config says what to boot and where.
type Config struct {
	Rootfs   string // host path of the instance's root filesystem
	CgroupFD int    // open directory of the instance's (empty) cgroup
	Console  string // the terminal for init's stdin, stdout and stderr
	// ReadOnly are host directories mounted read-only into the root
	// before init starts, in order (the running kernel's modules and
	// firmware: package hostkernel decides them).
	ReadOnly []Bind
	// Env is added to the environment the kernel gives PID 1 (HOME=/,
	// TERM=linux): the daemon's container= word.
	Env []string
}

// Bind is one read-only bind mount: Source, a directory on the host,
// appears at Target, a host path inside the root filesystem whose
// directory exists.
type Bind struct {
	Source, Target string
}

// ErrBoot wraps every failure before the instance's init ran.
var ErrBoot = errors.New("boot failed")

// Process is what Start booted (an instance's init) or Exec started (a
// command inside an instance).
type Process struct {
	Pid   int                // host pid
	PidFD int                // pidfd of an init, so signals never hit a recycled pid; -1 for Exec's
	Exit  <-chan reaper.Exit // its exit, exactly once
}

// Start boots the instance's init. It returns once the child has exec'd
// /sbin/init, or with the reason it could not (the child is then reaped).
func Start(cfg Config) (*Process, error) {
	p, err := newBootPlan(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBoot, err)
	}
	defer p.close()
	pid, exit, err := reaper.StartFunc(p.clone)
	if err != nil {
		return nil, fmt.Errorf("%w: clone3: %w", ErrBoot, err)
	}
	// The pipe closes without data when execve succeeds (close-on-exec).
	if rec, failed := readRecord(p.errR); failed {
		<-exit
		unix.Close(int(p.pidfd))
		return nil, fmt.Errorf("%w: %w", ErrBoot, childError(cfg.Rootfs, rec))
	}
	return &Process{Pid: pid, PidFD: int(p.pidfd), Exit: exit}, nil
}

// childError turns the boot child's failure record into a reason a person
// can act on.
func childError(rootfs string, rec record) error {
	errno := rec.errno()
	if rec.stage == stageExec {
		switch errno {
		case unix.ENOENT:
			return fmt.Errorf("no %s in the root filesystem %s (%w): install an init there, or use another image", Init, rootfs, errno)
		case unix.EACCES:
			return fmt.Errorf("%s in %s is not executable (%w): chmod +x it", Init, rootfs, errno)
		case unix.ENOEXEC:
			return fmt.Errorf("%s in %s is not a program this kernel can run (%w)", Init, rootfs, errno)
		}
	}
	return fmt.Errorf("%s (root filesystem %s): %w", rec.stage, rootfs, errno)
}
