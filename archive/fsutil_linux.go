package archive

import (
	"os"

	"golang.org/x/sys/unix"
)

// SyncFS flushes the whole file system holding dir: one syncfs(2) instead
// of one fsync per extracted file. Extract ends with it.
func SyncFS(dir string) error {
	return DirCall(dir, "syncfs", unix.Syncfs)
}

// DirCall opens the directory dir and calls f with its descriptor; an
// error names op (what f does) and dir.
func DirCall(dir, op string, f func(fd int) error) error {
	fd, _, err := OpenDir(dir, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := f(fd); err != nil {
		return &os.PathError{Op: op, Path: dir, Err: err}
	}
	return nil
}

// OpenDir opens the directory dir (O_RDONLY|O_DIRECTORY|O_CLOEXEC, and
// flags, such as O_NOFOLLOW) and returns its descriptor and status.
func OpenDir(dir string, flags int) (int, *unix.Stat_t, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|flags, 0)
	if err != nil {
		return -1, nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, nil, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	return fd, &st, nil
}
