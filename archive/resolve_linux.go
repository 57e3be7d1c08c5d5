package archive

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Every path of an entry is resolved by openat2(2) relative to the new root
// with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS: the kernel itself refuses
// "..", absolute paths and any symlink on the way, so no entry can reach
// outside the root, whatever earlier entries made of the tree and however
// the tree changes meanwhile. Final components are then handled with *at
// calls that do not follow symlinks.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

const maxDirCache = 256

// OpenBeneath opens path (clean and relative, "." for root itself) beneath
// the directory root with openat2(2) and resolveFlags: no "..", no
// symlink, no magic link and no mount crossing on the way. flags are
// open(2)'s; O_CLOEXEC is added.
func OpenBeneath(root int, path string, flags uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolveFlags}
	for {
		fd, err := unix.Openat2(root, path, &how)
		if err != unix.EINTR && err != unix.EAGAIN {
			return fd, err
		}
	}
}

// parentDir returns an O_PATH descriptor of the directory dir (a clean
// relative name, "." for the root), creating missing directories as GNU
// tar does (mode 0755, owned by root). The descriptor is cached: the
// extractor never removes or replaces a directory, so it stays valid.
func (x *extractor) parentDir(entry, dir string) (int, error) {
	if dir == "." {
		return x.root, nil
	}
	if fd, ok := x.dirs[dir]; ok {
		return fd, nil
	}
	x.settle(dir)
	fd, err := OpenBeneath(x.root, dir, unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) {
		fd, err = x.makeParents(entry, dir)
	}
	if err != nil {
		return -1, x.resolveError(entry, dir, err)
	}
	if len(x.dirs) >= maxDirCache {
		x.closeDirs()
	}
	x.dirs[dir] = fd
	return fd, nil
}

// makeParents creates the missing directories of dir one by one.
func (x *extractor) makeParents(entry, dir string) (int, error) {
	parts := strings.Split(dir, "/")
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		x.settle(sub)
		fd, err := OpenBeneath(x.root, sub, unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			if i == len(parts)-1 {
				return fd, nil
			}
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return -1, x.resolveError(entry, sub, err)
		}
		pfd, err := x.parentDir(entry, parentOf(sub))
		if err != nil {
			return -1, err
		}
		if err := unix.Mkdirat(pfd, parts[i], 0o700); err != nil && err != unix.EEXIST {
			return -1, fmt.Errorf("extract %q: create directory %s: %w", entry, sub, err)
		}
		if err := x.implicitDir(sub); err != nil {
			return -1, err
		}
	}
	return OpenBeneath(x.root, dir, unix.O_PATH|unix.O_DIRECTORY)
}

func parentOf(name string) string {
	p, _ := SplitName(name)
	return p
}

// resolveError explains why the kernel refused to resolve path.
func (x *extractor) resolveError(entry, path string, err error) error {
	var e *entryError
	if errors.As(err, &e) {
		return err
	}
	switch {
	case errors.Is(err, unix.ELOOP):
		return &entryError{entry, fmt.Errorf("%w: %s is a symlink; an image may not write through a symlink",
			ErrBadImage, x.firstSymlink(path))}
	case errors.Is(err, unix.ENOTDIR):
		return &entryError{entry, fmt.Errorf("%w: %s is not a directory", ErrBadImage, path)}
	case errors.Is(err, unix.EXDEV):
		return &entryError{entry, fmt.Errorf("%w: %s leads outside the new root filesystem", ErrBadImage, path)}
	}
	return &entryError{entry, fmt.Errorf("open %s: %w", path, err)}
}

// closeDirs closes the cached directories, once no queued job uses them.
func (x *extractor) closeDirs() {
	x.w.drain()
	for k, fd := range x.dirs {
		unix.Close(fd)
		delete(x.dirs, k)
	}
}

// entryError names the archive entry an error is about.
type entryError struct {
	entry string
	err   error
}

func (e *entryError) Error() string { return fmt.Sprintf("entry %q: %v", e.entry, e.err) }
func (e *entryError) Unwrap() error { return e.err }

// firstSymlink names the first component of path that is a symlink (for
// the error message), or path itself if none is found.
func (x *extractor) firstSymlink(path string) string {
	parts := strings.Split(path, "/")
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		fd, err := OpenBeneath(x.root, sub, unix.O_PATH|unix.O_NOFOLLOW)
		if err != nil {
			break
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		unix.Close(fd)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return sub
		}
	}
	return path
}
