package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// layerState is the extractor's state while it applies one layer of an OCI
// or Docker image over the layers before it (image-spec layer.md).
type layerState struct {
	first   bool            // the first layer: the root gets 0755 if unlisted
	created map[string]bool // names this layer created
}

// OCI whiteouts: ".wh.NAME" deletes NAME of the layers below, and
// ".wh..wh..opq" deletes every entry of the layers below from its
// directory. Other ".wh..wh." names are AUFS bookkeeping, ignored.
const (
	whPrefix = ".wh."
	whOpaque = ".wh..wh..opq"
	whMeta   = ".wh..wh."
)

// layerEntry handles an entry of a layer before the extractor restores it:
// a whiteout is applied here (done is true), and an entry that replaces a
// lower layer's directory with something else, or the reverse, first
// removes the lower one, which within one image would be refused as
// hostile. Everything is resolved beneath the root without following
// symlinks, as every other write of the extractor is.
func (x *extractor) layerEntry(name string, hdr *tar.Header) (done bool, err error) {
	parent, base := SplitName(name)
	switch {
	case base == whOpaque:
		return true, x.opaque(hdr.Name, parent)
	case strings.HasPrefix(base, whMeta):
		return true, nil
	case strings.HasPrefix(base, whPrefix):
		return true, x.whiteout(hdr.Name, JoinName(parent, base[len(whPrefix):]))
	}
	if !x.ours(name) {
		if err := x.replaceLower(hdr, name); err != nil {
			return false, err
		}
	}
	x.layer.created[name] = true
	return false, nil
}

// ours reports whether this layer made name (an entry or a parent
// directory made for one).
func (x *extractor) ours(name string) bool {
	_, dir := x.dirMeta[name]
	return dir || x.layer.created[name]
}

func (x *extractor) whiteout(entry, target string) error {
	if _, base := SplitName(target); base == "" || base == "." || base == ".." || strings.Contains(base, "/") {
		return &entryError{entry, fmt.Errorf("%w: a whiteout of no valid name", ErrBadImage)}
	}
	if x.ours(target) {
		return &entryError{entry, fmt.Errorf("%w: a whiteout of %s, which this same layer created", ErrBadImage, target)}
	}
	return x.removeLower(entry, target)
}

// opaque empties directory dir of what the layers below put in it.
func (x *extractor) opaque(entry, dir string) error {
	x.w.drain()
	fd, err := OpenBeneath(x.root, dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return x.resolveError(entry, dir, err)
	}
	names, err := ReadDirNames(fd)
	unix.Close(fd)
	if err != nil {
		return x.opError(entry, "read directory "+dir, err)
	}
	for _, n := range names {
		if p := JoinName(dir, n); !x.ours(p) {
			if err := x.removeLower(entry, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// replaceLower removes a lower layer's name when the new entry changes it
// between directory and non-directory (a directory merges with a
// directory; a non-directory is replaced by the usual duplicate handling).
func (x *extractor) replaceLower(hdr *tar.Header, name string) error {
	fd, err := OpenBeneath(x.root, name, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return nil // absent, or beneath a symlink: the extractor refuses that itself
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return x.opError(hdr.Name, "stat", err)
	}
	if (st.Mode&unix.S_IFMT == unix.S_IFDIR) == (hdr.Typeflag == tar.TypeDir) {
		return nil
	}
	return x.removeLower(hdr.Name, name)
}

// removeLower deletes target and everything beneath it, then forgets the
// cached directory descriptors, which may name a deleted directory.
func (x *extractor) removeLower(entry, target string) error {
	x.settlePath(target)
	x.w.drain()
	parent, base := SplitName(target)
	pfd, err := OpenBeneath(x.root, parent, unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing to delete
	}
	if err != nil {
		return x.resolveError(entry, parent, err)
	}
	err = removeAt(pfd, base)
	unix.Close(pfd)
	x.closeDirs()
	if err != nil && err != unix.ENOENT {
		return x.opError(entry, "delete "+target, err)
	}
	return nil
}

// removeAt deletes name in directory dfd, recursively, without following
// symlinks.
func removeAt(dfd int, name string) error {
	err := unix.Unlinkat(dfd, name, 0)
	if err != unix.EISDIR {
		return err
	}
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	names, err := ReadDirNames(fd)
	if err == nil {
		for _, n := range names {
			if err = removeAt(fd, n); err != nil && err != unix.ENOENT {
				break
			}
			err = nil
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	return unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR)
}
