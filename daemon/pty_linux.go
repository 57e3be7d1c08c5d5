package daemon

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"initns/initsys"
)

// openPTY makes a pseudo-terminal from the devpts the instance whose root
// is rootFD has mounted on /dev/pts, so that the command's terminal is one
// of the instance's own: tty and ps inside name it /dev/pts/N, and it
// belongs to the instance's devpts, not the host's. It returns the master
// and the slave, both close-on-exec, the window already rows x cols.
func openPTY(rootFD int, name string, rows, cols uint16) (master, slave int, err error) {
	f, err := initsys.OpenInRoot(rootFD, "/dev/pts/ptmx", unix.O_RDWR|unix.O_NOCTTY, 0)
	if errors.Is(err, unix.ENOENT) {
		return -1, -1, fmt.Errorf("instance %s has no devpts on /dev/pts, where a terminal is made: mount one inside it (mount -t devpts devpts /dev/pts), or use exec -T for none", name)
	}
	if err != nil {
		return -1, -1, fmt.Errorf("open the terminal multiplexer of instance %s: %w", name, err)
	}
	defer f.Close()
	// A devpts mounts ptmx there; anything else (a file planted in a tree
	// with no devpts mounted) is not a terminal multiplexer.
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &fs); err != nil || fs.Type != unix.DEVPTS_SUPER_MAGIC {
		return -1, -1, fmt.Errorf("instance %s: /dev/pts/ptmx is not on a devpts: mount one on /dev/pts inside it (mount -t devpts devpts /dev/pts), or use exec -T for no terminal", name)
	}
	// The caller owns the descriptors from here; the *os.File's is closed
	// when this returns.
	master, err = unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	if slave, err = ptyPeer(master, rows, cols); err != nil {
		unix.Close(master)
		return -1, -1, fmt.Errorf("terminal of instance %s: %w", name, err)
	}
	return master, slave, nil
}

// ptyPeer unlocks the slave of master, sets its window size and opens it.
// TIOCGPTPEER opens the slave through the master, not by a path, so no
// name inside the instance is looked up (and none can be swapped).
func ptyPeer(master int, rows, cols uint16) (int, error) {
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return -1, fmt.Errorf("unlock the terminal: %w", err)
	}
	if rows > 0 && cols > 0 {
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
			return -1, fmt.Errorf("set the window size: %w", err)
		}
	}
	slave, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return -1, fmt.Errorf("open the terminal's slave: %w", errno)
	}
	return int(slave), nil
}
