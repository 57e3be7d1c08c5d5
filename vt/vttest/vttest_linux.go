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

// held keeps the lock file referenced: an unreachable *os.File is closed
// by its finalizer, which would drop the lock.
var held *os.File

// Lock blocks until no other test binary holds the VT lock, then holds it
// until the process exits. Call it from TestMain.
func Lock() error {
	path := filepath.Join(os.TempDir(), "initns-vt-tests.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open VT test lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("lock %s: %w", path, err)
	}
	held = f
	return nil
}
