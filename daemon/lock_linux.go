package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// lockRoot takes the state root's lock for the daemon's lifetime, so two
// daemons never share one root. It waits a moment for the lock: a child
// forked by a daemon that was just killed holds a copy of it until exec.
// The file is open for writing on purpose: while it is, the kernel refuses
// to remount the state root's file system read-only (EBUSY), which the
// shutdown scripts of an instance's sysvinit or runit try through their
// bind-mounted /.
func lockRoot(root string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(root, "daemon.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state root: %w", err)
	}
	for deadline := time.Now().Add(2 * time.Second); ; {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EWOULDBLOCK || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("state root %s is in use by another daemon (%w): stop it first, or use another --root", root, err)
	}
	return f, nil
}
