package store

import (
	"context"
	"path/filepath"

	"golang.org/x/sys/unix"

	"initns/archive"
)

// overlayDiff walks an upper layer against its lower layer.
type overlayDiff struct {
	ctx          context.Context
	upper, lower tree
	out          []Change
}

// How a directory of the upper layer relates to the lower layer.
const (
	merged = iota // merged with the lower directory of the same name
	opaque        // hides the lower directory: compare it entry by entry
	fresh         // no lower directory: everything in it is added
)

func (s *Store) diffOverlay(ctx context.Context, name string) ([]Change, error) {
	key, err := s.layerKey(name)
	if err != nil {
		return nil, err
	}
	upper, err := openTree(filepath.Join(s.overlayPath(name), layerUpper))
	if err != nil {
		return nil, err
	}
	defer upper.close()
	lower, err := openTree(s.lowerTree(key))
	if err != nil {
		return nil, err
	}
	defer lower.close()
	d := &overlayDiff{ctx: ctx, upper: upper, lower: lower}
	if err := d.dir(".", merged); err != nil {
		return nil, err
	}
	return d.out, nil
}

func (d *overlayDiff) add(rel string, k ChangeKind) {
	d.out = append(d.out, Change{Path: changePath(rel), Kind: k})
}

// dir compares the entries of upper directory rel.
func (d *overlayDiff) dir(rel string, how int) error {
	if err := d.ctx.Err(); err != nil {
		return err
	}
	names, err := d.upper.names(rel)
	if err != nil {
		return err
	}
	inUpper := map[string]bool{}
	for _, n := range names {
		inUpper[n] = true
		if err := d.entry(archive.JoinName(rel, n), how); err != nil {
			return err
		}
	}
	if how != opaque {
		return nil
	}
	lowerNames, err := d.lower.names(rel)
	if err != nil {
		return err
	}
	for _, n := range lowerNames {
		if !inUpper[n] {
			d.add(archive.JoinName(rel, n), Deleted)
		}
	}
	return nil
}

func (d *overlayDiff) entry(rel string, how int) error {
	ust, _, err := d.upper.stat(rel)
	if err != nil {
		return err
	}
	var lst unix.Stat_t
	inLower := false
	if how != fresh {
		if lst, inLower, err = d.lower.stat(rel); err != nil {
			return err
		}
	}
	if isWhiteout(&ust) {
		if how == merged && inLower {
			d.add(rel, Deleted)
		}
		return nil
	}
	if !isDir(&ust) {
		d.add(rel, kindOf(inLower))
		return nil
	}
	sub := fresh
	switch {
	case !inLower || !isDir(&lst):
		d.add(rel, kindOf(inLower))
	case how == opaque || d.isOpaque(rel):
		sub = opaque
		d.add(rel, Modified)
	default:
		sub = merged
		if ust.Mode != lst.Mode || ust.Uid != lst.Uid || ust.Gid != lst.Gid {
			d.add(rel, Modified)
		}
	}
	return d.dir(rel, sub)
}

func kindOf(inLower bool) ChangeKind {
	if inLower {
		return Modified
	}
	return Added
}

// isWhiteout: overlayfs marks a deleted lower entry with a 0/0 character
// device in the upper layer.
func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// isOpaque: an upper directory with trusted.overlay.opaque=y hides the
// lower directory of the same name (it replaced a deleted one).
func (d *overlayDiff) isOpaque(rel string) bool {
	fd, err := archive.OpenBeneath(d.upper.root, rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	buf := make([]byte, 8)
	n, err := unix.Fgetxattr(fd, "trusted.overlay.opaque", buf)
	return err == nil && n == 1 && buf[0] == 'y'
}
