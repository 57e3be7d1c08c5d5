package nsexec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"initns/daemon/reaper"
)

// Config says what to boot and where.
type Config struct {
	Rootfs   string // host path of the instance's root filesystem
	CgroupFD int    // open directory of the instance's (empty) cgroup
	Console  string // the terminal for init's stdin, stdout and stderr
}

// ErrBoot wraps every failure before the instance's init ran.
var ErrBoot = errors.New("boot failed")

// Process is a booted instance's init.
type Process struct {
	Pid   int                // host pid
	PidFD int                // pidfd of it: signals never hit a recycled pid
	Exit  <-chan reaper.Exit // its exit, exactly once
}

// Start boots the instance's init. It returns once the child has exec'd
// /sbin/init, or with the reason it could not (the child is then reaped).
func Start(cfg Config) (*Process, error) {
	p, err := newPlan(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBoot, err)
	}
	defer p.close()
	var pidfd int32 = -1
	pid, exit, err := reaper.StartFunc(func() (int, error) {
		return p.clone(&pidfd)
	})
	unix.Close(p.errW)
	p.errW = -1
	if err != nil {
		return nil, fmt.Errorf("%w: clone3: %w", ErrBoot, err)
	}
	// The pipe closes without data when execve succeeds (close-on-exec).
	if rec, failed := readRecord(p.errR); failed {
		<-exit
		unix.Close(int(pidfd))
		return nil, fmt.Errorf("%w: %w", ErrBoot, childError(cfg.Rootfs, rec))
	}
	return &Process{Pid: pid, PidFD: int(pidfd), Exit: exit}, nil
}

// readRecord reads the child's failure record, if it sent one before the
// pipe closed.
func readRecord(fd int) (rec [8]byte, failed bool) {
	got := 0
	for got < len(rec) {
		n, err := unix.Read(fd, rec[got:])
		if err == unix.EINTR {
			continue
		}
		if n <= 0 {
			break
		}
		got += n
	}
	return rec, got == len(rec)
}

// childError turns the child's failure record (step, errno) into a reason
// a person can act on.
func childError(rootfs string, rec [8]byte) error {
	step := stage(binary.NativeEndian.Uint32(rec[:4]))
	errno := syscall.Errno(binary.NativeEndian.Uint32(rec[4:]))
	if step == stageExec {
		switch errno {
		case unix.ENOENT:
			return fmt.Errorf("no %s in the root filesystem %s (%w): install an init there, or use another image", Init, rootfs, errno)
		case unix.EACCES:
			return fmt.Errorf("%s in %s is not executable (%w): chmod +x it", Init, rootfs, errno)
		case unix.ENOEXEC:
			return fmt.Errorf("%s in %s is not a program this kernel can run (%w)", Init, rootfs, errno)
		}
	}
	return fmt.Errorf("%s (root filesystem %s): %w", step, rootfs, errno)
}
