package archive

import (
	"fmt"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// applyFd sets the metadata of an open regular file or directory. The order
// matters: chown clears setuid/setgid bits and file capabilities, so the
// mode comes after the owner and the xattrs (security.capability) after both.
func (a *attrs) applyFd(fd int) error {
	if err := unix.Fchown(fd, a.uid, a.gid); err != nil {
		return fmt.Errorf("chown %d:%d: %w", a.uid, a.gid, err)
	}
	if err := unix.Fchmod(fd, a.mode); err != nil {
		return fmt.Errorf("chmod %04o: %w", a.mode, err)
	}
	for _, x := range a.xattrs {
		if err := unix.Fsetxattr(fd, x.name, x.value, 0); err != nil {
			return xattrError(x.name, err)
		}
	}
	ts := a.times()
	// utimensat(fd, NULL, ...) sets the times of fd itself; x/sys has no
	// wrapper that passes a NULL path.
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("set mtime: %w", errno)
	}
	return nil
}

// applyAt sets the metadata of a symlink, device or FIFO named base in the
// directory pfd, never following a final symlink. Such files cannot be
// opened for their metadata (opening a FIFO blocks, a device wakes its
// driver), so they are named; the extractor just created them in a tree
// nobody else writes, so the name is still theirs.
func (a *attrs) applyAt(pfd int, base string, symlink bool) error {
	if err := unix.Fchownat(pfd, base, a.uid, a.gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %d:%d: %w", a.uid, a.gid, err)
	}
	if !symlink {
		if err := unix.Fchmodat(pfd, base, a.mode, 0); err != nil {
			return fmt.Errorf("chmod %04o: %w", a.mode, err)
		}
	}
	if len(a.xattrs) > 0 {
		// The magic link names the directory pfd itself; lsetxattr does
		// not follow base if it is a symlink.
		path := "/proc/self/fd/" + strconv.Itoa(pfd) + "/" + base
		for _, x := range a.xattrs {
			if err := unix.Lsetxattr(path, x.name, x.value, 0); err != nil {
				return xattrError(x.name, err)
			}
		}
	}
	ts := a.times()
	if err := unix.UtimesNanoAt(pfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set mtime: %w", err)
	}
	return nil
}

func (a *attrs) times() [2]unix.Timespec {
	at := unix.Timespec{Nsec: unix.UTIME_OMIT}
	if !a.atime.IsZero() {
		at = timespec(a.atime)
	}
	return [2]unix.Timespec{at, timespec(a.mtime)}
}

func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

func xattrError(name string, err error) error {
	if err == unix.ENOTSUP || err == unix.EOPNOTSUPP {
		return fmt.Errorf("set extended attribute %s: the file system of the state root does not support it: %w", name, err)
	}
	return fmt.Errorf("set extended attribute %s: %w", name, err)
}
