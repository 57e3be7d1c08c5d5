package store

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"

	"initns/archive"
)

// DiskUse returns the disk space the instance name occupies on its own, in
// bytes of allocated blocks: its root filesystem for a plain instance, its
// upper layer (what it changed) for an overlay instance, whose lower layer
// is shared. A file with several links counts once; other file systems
// mounted inside are not counted, and neither is anything a symlink leads
// to, even one the running instance swaps in for a directory meanwhile
// (walkLive). It fails with ErrNotExist.
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
	seen := map[archive.FileID]bool{}
	err := walkLive(dir, func(st *unix.Stat_t) {
		if st.Nlink > 1 && !isDir(st) {
			id := archive.FileID{Dev: st.Dev, Ino: st.Ino}
			if seen[id] {
				return
			}
			seen[id] = true
		}
		total += st.Blocks * 512
	})
	return total, err
}

// treeSize adds up the sizes of the regular files of root, which a running
// instance (adopted by a restarted daemon) may be changing (walkLive).
func treeSize(root string) int64 {
	var n int64
	_ = walkLive(root, func(st *unix.Stat_t) {
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			n += st.Size
		}
	})
	return n
}

// walkLive calls visit with the metadata of every file of the tree at dir
// that lies on dir's file system, dir itself first. The tree may belong to
// a running instance that changes it meanwhile: each directory is opened by
// openat2 beneath the root (RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV) with
// O_DIRECTORY, O_NOFOLLOW and O_NONBLOCK, and its entries are stat'ed
// relative to it without following. So a symlink or a mount swapped in for
// a directory is never entered, a FIFO or device swapped in is never opened
// (an open could block for ever), and what vanished is skipped. One
// descriptor is open at a time, however deep the tree.
func walkLive(dir string, visit func(st *unix.Stat_t)) error {
	t, err := openTree(dir)
	if err != nil {
		return err
	}
	defer t.close()
	var st unix.Stat_t
	if err := unix.Fstat(t.root, &st); err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	visit(&st)
	return t.walk(".", st.Dev, visit)
}

func (t tree) walk(rel string, dev uint64, visit func(st *unix.Stat_t)) error {
	fd, err := archive.OpenBeneath(t.root, rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if movedAway(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", rel, err)
	}
	dirs, err := t.visitEntries(fd, dev, visit)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("read %s: %w", rel, err)
	}
	for _, d := range dirs {
		if err := t.walk(archive.JoinName(rel, d), dev, visit); err != nil {
			return err
		}
	}
	return nil
}

// visitEntries visits the entries of the open directory fd and returns the
// names of its subdirectories.
func (t tree) visitEntries(fd int, dev uint64, visit func(st *unix.Stat_t)) ([]string, error) {
	names, err := archive.ReadDirNames(fd)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, name := range names {
		var st unix.Stat_t
		err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.ENOENT {
			continue
		}
		if err != nil {
			return nil, err
		}
		if st.Dev != dev {
			continue // a mount point
		}
		visit(&st)
		if isDir(&st) {
			dirs = append(dirs, name)
		}
	}
	return dirs, nil
}
