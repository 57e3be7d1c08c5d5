// Package vttest serializes the tests that use this machine's real
// virtual terminals. `go test ./...` runs packages' test binaries in
// parallel, and two of them switching VTs, or one ending a session on
// /dev/tty63 (which hangs up every descriptor open on it) while another
// uses it, would make both fail.
package vttest

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Lock blocks until no other test binary holds the VT lock, then holds it
// until the process exits. Call it from TestMain.
func Lock() error {
	path := filepath.Join(os.TempDir(), "initns-vt-tests.lock")
	// A raw descriptor, not an *os.File: a file's finalizer would close it
	// and drop the lock once the file is unreachable.
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("open VT test lock %s: %w", path, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("lock %s: %w", path, err)
	}
	return nil
}
