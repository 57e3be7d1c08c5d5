package store

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
)

// DiskUse returns the disk space the instance name occupies on its own, in
// bytes of allocated blocks: its root filesystem for a plain instance, its
// upper layer (what it changed) for an overlay instance, whose lower layer
// is shared. A file with several links counts once; other file systems
// mounted inside are not counted. It fails with ErrNotExist.
func (s *Store) DiskUse(name string) (int64, error) {
	in, err := s.Instance(name)
	if err != nil {
		return 0, err
	}
	dir := s.RootfsPath(name)
	if in.Overlay {
		dir = filepath.Join(s.overlayPath(name), layerUpper)
	}
	n, err := diskUse(dir)
	if err != nil {
		return 0, fmt.Errorf("disk use of %s: %w", name, err)
	}
	return n, nil
}

func diskUse(dir string) (int64, error) {
	var total int64
	var dev uint64
	seen := map[fileID]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		st := fi.Sys().(*syscall.Stat_t)
		if p == dir {
			dev = st.Dev
		} else if st.Dev != dev {
			if d.IsDir() {
				return fs.SkipDir // a mount point
			}
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			id := fileID{st.Dev, st.Ino}
			if seen[id] {
				return nil
			}
			seen[id] = true
		}
		total += st.Blocks * 512
		return nil
	})
	return total, err
}
