package store

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"

	"golang.org/x/sys/unix"

	"initns/archive"
)

// ChangeKind says how a path differs from the instance's image.
type ChangeKind string

// The kinds of Change.
const (
	Added    ChangeKind = "added"
	Modified ChangeKind = "modified"
	Deleted  ChangeKind = "deleted"
)

// Change is one path of an instance that differs from its image. Path is
// absolute inside the instance ("/etc/hostname").
type Change struct {
	Path string
	Kind ChangeKind
}

// Diff lists what the instance name changed against its image, sorted by
// path, as docker diff does: every added path; a deleted path, but not what
// lay beneath a deleted directory; a modified path (another type, mode,
// owner, content, link target or device; a directory only for its own
// type, mode or owner, not for changes of its entries, which are listed).
// An overlay instance is read from its upper layer (a whiteout is a
// deletion, an opaque directory hides the lower one's entries); a plain
// instance is compared with its image, streamed again, comparing content
// only where size or mtime say it may differ. It fails with ErrNotExist
// (instance, or a plain instance's image, missing) and ErrBadImage.
func (s *Store) Diff(ctx context.Context, name string) ([]Change, error) {
	if err := ValidInstanceName(name); err != nil {
		return nil, err
	}
	in, err := s.Instance(name)
	if err != nil {
		return nil, err
	}
	var ch []Change
	if in.Overlay {
		ch, err = s.diffOverlay(ctx, name)
	} else {
		ch, err = s.diffPlain(ctx, in)
	}
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", name, err)
	}
	sort.Slice(ch, func(i, j int) bool { return ch[i].Path < ch[j].Path })
	return ch, nil
}

// tree is a directory tree read through openat2 beneath its root, never
// following a symlink, so a tree an instance shaped cannot lead elsewhere.
type tree struct{ root int }

func openTree(dir string) (tree, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return tree{}, fmt.Errorf("open %s: %w", dir, err)
	}
	return tree{fd}, nil
}

func (t tree) close() { unix.Close(t.root) }

// stat returns rel's metadata; ok is false when rel is absent or reached
// only through a symlink or a non-directory.
func (t tree) stat(rel string) (st unix.Stat_t, ok bool, err error) {
	if rel == "." {
		return st, true, unix.Fstat(t.root, &st)
	}
	fd, err := archive.OpenBeneath(t.root, rel, unix.O_PATH|unix.O_NOFOLLOW)
	if movedAway(err) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("open %s: %w", rel, err)
	}
	defer unix.Close(fd)
	return st, true, unix.Fstat(fd, &st)
}

// names lists the directory rel (nil if it is not a directory).
func (t tree) names(rel string) ([]string, error) {
	fd, err := archive.OpenBeneath(t.root, rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if movedAway(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", rel, err)
	}
	defer unix.Close(fd)
	return archive.ReadDirNames(fd)
}

func (t tree) readlink(rel string) string {
	dir, base := archive.SplitName(rel)
	fd := t.root
	if dir != "." {
		var err error
		if fd, err = archive.OpenBeneath(t.root, dir, unix.O_PATH|unix.O_DIRECTORY); err != nil {
			return ""
		}
		defer unix.Close(fd)
	}
	target, _ := readlinkAt(fd, base)
	return target
}

// movedAway reports an error of openBeneath that means the path no longer
// leads to a file of the tree: removed, or a component now a symlink, a
// non-directory or a mount point.
func movedAway(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EXDEV)
}

func isDir(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }

func changePath(rel string) string { return path.Join("/", rel) }

func parentOf(name string) string {
	p, _ := archive.SplitName(name)
	return p
}
