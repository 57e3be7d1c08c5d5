package store

import (
	"fmt"
	"os"

	"initns/archive"

	"golang.org/x/sys/unix"
)

// syncDir fsyncs a directory so that the names created or renamed in it
// survive a power cut.
func syncDir(dir string) error {
	return archive.DirCall(dir, "fsync", unix.Fsync)
}

// renameNoReplace renames src to dst, failing if dst exists (even an empty
// directory, which rename(2) would silently replace).
func renameNoReplace(src, dst string) error {
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
	}
	return nil
}

// removeTree deletes path and everything below it without following
// symlinks (os.RemoveAll works with unlinkat relative to open directories).
func removeTree(path string) error {
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// rootID identifies the state root, which Seed leaves out of a snapshot.
func (s *Store) rootID() (archive.FileID, error) {
	var st unix.Stat_t
	if err := unix.Stat(s.root, &st); err != nil {
		return archive.FileID{}, fmt.Errorf("stat state root: %w", err)
	}
	return archive.FileID{Dev: st.Dev, Ino: st.Ino}, nil
}

// sameFS reports whether a and b are on one file system, so that a rename
// or link from one to the other works.
func sameFS(a, b string) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Stat(a, &sa); err != nil {
		return false, &os.PathError{Op: "stat", Path: a, Err: err}
	}
	if err := unix.Stat(b, &sb); err != nil {
		return false, &os.PathError{Op: "stat", Path: b, Err: err}
	}
	return sa.Dev == sb.Dev, nil
}
