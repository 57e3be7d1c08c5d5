package archive

import (
	"os"

	"golang.org/x/sys/unix"
)

// SyncFS flushes the whole file system holding dir: one syncfs(2) instead
// of one fsync per extracted file. Extract ends with it.
func SyncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}
