package archive

import (
	"archive/tar"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"
)

// dir creates a directory; its metadata is applied once every entry is in
// place, since creating entries inside it changes its mtime and its mode may
// forbid writing.
func (x *extractor) dir(pfd int, name, base string, hdr *tar.Header) error {
	a, err := attrsOf(hdr)
	if err != nil {
		return err
	}
	err = unix.Mkdirat(pfd, base, 0o700)
	if err == unix.EEXIST {
		err = x.clearFor(pfd, name, base, hdr, true)
		if err == nil {
			err = unix.Mkdirat(pfd, base, 0o700)
		}
	}
	if err != nil && err != unix.EEXIST {
		return x.opError(hdr.Name, "create directory", err)
	}
	return x.keepDir(hdr.Name, name, &a) // a later duplicate's metadata wins, as in GNU tar
}

// keepDir records the metadata of directory name (nil: an implicit one)
// for finishDirs, within the maxDirMeta budget.
func (x *extractor) keepDir(entry, name string, a *attrs) error {
	old, seen := x.dirMeta[name]
	cost := dirMetaCost(name, a)
	if seen {
		cost -= dirMetaCost(name, old)
	}
	if x.dirBytes+cost > maxDirMeta {
		return &entryError{entry, fmt.Errorf("%w: the directories' metadata (names, owners, times, extended attributes), kept until every entry is in place, would exceed the %d MiB limit on directory metadata",
			ErrBadImage, maxDirMeta>>20)}
	}
	x.dirBytes += cost
	if !seen && name != "." {
		x.dirList = append(x.dirList, name)
	}
	x.dirMeta[name] = a
	return nil
}

// implicitDir records a directory made for an entry whose parent the image
// does not list: GNU tar gives it mode 0755 and the extracting user.
func (x *extractor) implicitDir(name string) error {
	if _, seen := x.dirMeta[name]; seen {
		return nil
	}
	return x.keepDir(name, name, nil)
}

// clearFor makes room for a duplicate entry: a directory is kept for a
// directory (GNU tar merges them), another non-directory is unlinked, and
// swapping a directory and a non-directory is refused, since a symlink put
// in place of a directory would redirect every later entry written beneath
// it. It returns unix.EEXIST when the existing directory is kept.
func (x *extractor) clearFor(pfd int, name, base string, hdr *tar.Header, isDir bool) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return x.opError(hdr.Name, "stat existing entry", err)
	}
	was := st.Mode & unix.S_IFMT
	switch {
	case was == unix.S_IFDIR && isDir:
		return unix.EEXIST
	case was == unix.S_IFDIR:
		return &entryError{hdr.Name, fmt.Errorf("%w: a duplicate entry would replace directory %s with a %s; refusing the image",
			ErrBadImage, name, typeName(hdr.Typeflag))}
	case isDir && was == unix.S_IFLNK:
		return &entryError{hdr.Name, fmt.Errorf("%w: a duplicate entry would replace symlink %s with a directory; refusing the image",
			ErrBadImage, name)}
	}
	if err := unix.Unlinkat(pfd, base, 0); err != nil {
		return x.opError(hdr.Name, "replace existing entry", err)
	}
	return nil
}

// file queues a regular file for the writers, or, if it is large, creates
// and streams it right away.
func (x *extractor) file(pfd int, name, base string, hdr *tar.Header, tr io.Reader) error {
	j, err := x.newJob(pfd, name, base, hdr)
	if err != nil {
		return err
	}
	j.sparse = isSparse(hdr)
	if j.sparse {
		if err := x.sparse.take(hdr.Size); err != nil {
			return &entryError{hdr.Name, err}
		}
	}
	x.size += hdr.Size
	if hdr.Size > smallFile {
		return x.runJob(j, tr)
	}
	if hdr.Size > 0 {
		if j.data, err = x.w.arena.get(int(hdr.Size)); err != nil {
			return &entryError{hdr.Name, fmt.Errorf("buffer: %w", err)}
		}
	}
	if _, err := io.ReadFull(tr, j.data); err != nil {
		x.w.arena.put(j.data)
		return &entryError{hdr.Name, &readErr{noEOF(err)}}
	}
	return x.queue(j)
}

func (x *extractor) newJob(pfd int, name, base string, hdr *tar.Header) (*fileJob, error) {
	a, err := attrsOf(hdr)
	if err != nil {
		return nil, err
	}
	// The job needs no records once a holds the attributes.
	h := *hdr
	h.PAXRecords = nil
	return &fileJob{pfd: pfd, base: base, path: name, hdr: &h, attrs: a, fd: -1}, nil
}

// queue hands j to the writers and remembers it as pending.
func (x *extractor) queue(j *fileJob) error {
	if j.attrs.bytes() > maxQueuedAttrs {
		err := x.runJob(j, nil)
		x.w.arena.put(j.data)
		return err
	}
	if err := x.w.queue(x.ctx, j); err != nil {
		return err
	}
	if len(x.pending) >= maxPending {
		x.prunePending()
	}
	x.pending[j.path] = j.done
	return nil
}

const maxPending = 4096

// settle waits until no queued job is about to create name.
func (x *extractor) settle(name string) {
	if done, ok := x.pending[name]; ok {
		<-done
		delete(x.pending, name)
	}
}

// settlePath settles every leading part of path ("a", "a/b", "a/b/c").
func (x *extractor) settlePath(path string) {
	for i := 0; i < len(path); i++ {
		if path[i] == '/' {
			x.settle(path[:i])
		}
	}
	x.settle(path)
}

func (x *extractor) prunePending() {
	for k, done := range x.pending {
		select {
		case <-done:
			delete(x.pending, k)
		default:
		}
	}
	if len(x.pending) >= maxPending {
		x.w.drain()
		clear(x.pending)
	}
}

// create runs mk, and on EEXIST clears the way (clearFor) and runs it again.
func (x *extractor) create(pfd int, name, base string, hdr *tar.Header, mk func() (int, error)) (int, error) {
	fd, err := mk()
	if err == unix.EEXIST {
		if err = x.clearFor(pfd, name, base, hdr, false); err == nil {
			fd, err = mk()
		}
	}
	if err != nil {
		return -1, x.opError(hdr.Name, "create "+typeName(hdr.Typeflag), err)
	}
	return fd, nil
}

func (x *extractor) symlink(pfd int, name, base string, hdr *tar.Header) error {
	if hdr.Linkname == "" || len(hdr.Linkname) > maxLinkname || strings.IndexByte(hdr.Linkname, 0) >= 0 {
		return &entryError{hdr.Name, fmt.Errorf("%w: symlink target is empty, too long or contains NUL", ErrBadImage)}
	}
	j, err := x.newJob(pfd, name, base, hdr)
	if err != nil {
		return err
	}
	return x.queue(j)
}

// makeSymlink runs in a writer. The target is stored as it is: it is only
// ever resolved inside the instance, and extraction never follows a
// symlink.
func (x *extractor) makeSymlink(j *fileJob) error {
	if _, err := x.create(j.pfd, j.path, j.base, j.hdr, func() (int, error) {
		return -1, unix.Symlinkat(j.hdr.Linkname, j.pfd, j.base)
	}); err != nil {
		return err
	}
	return x.opError(j.name(), "set metadata", j.attrs.applyAt(j.pfd, j.base, true))
}

func (x *extractor) node(pfd int, name, base string, hdr *tar.Header) error {
	j, err := x.newJob(pfd, name, base, hdr)
	if err != nil {
		return err
	}
	return x.queue(j)
}

// makeNode runs in a writer: a device or a FIFO.
func (x *extractor) makeNode(j *fileJob) error {
	mode := uint32(unix.S_IFIFO)
	switch j.hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	}
	dev := unix.Mkdev(uint32(j.hdr.Devmajor), uint32(j.hdr.Devminor))
	if _, err := x.create(j.pfd, j.path, j.base, j.hdr, func() (int, error) {
		return -1, unix.Mknodat(j.pfd, j.base, mode|0o600, int(dev))
	}); err != nil {
		return err
	}
	return x.opError(j.name(), "set metadata", j.attrs.applyAt(j.pfd, j.base, false))
}

// hardlink links name to an earlier entry of the image. The target is
// resolved beneath the root without following any symlink, and a target
// that is a symlink gets linked itself, as link(2) without
// AT_SYMLINK_FOLLOW does.
func (x *extractor) hardlink(pfd int, name, base string, hdr *tar.Header) error {
	if hdr.Size > 0 {
		return &entryError{hdr.Name, fmt.Errorf("%w: a hard link that carries %d bytes of data; refusing the image", ErrBadImage, hdr.Size)}
	}
	target, err := CleanName(hdr.Linkname)
	if err != nil {
		return &entryError{hdr.Name, fmt.Errorf("hard link target: %w", err)}
	}
	if target == "." || target == name {
		return &entryError{hdr.Name, fmt.Errorf("%w: hard link to %q", ErrBadImage, hdr.Linkname)}
	}
	x.settlePath(target)
	tfd, err := OpenBeneath(x.root, target, unix.O_PATH|unix.O_NOFOLLOW)
	if err == unix.ENOENT {
		return &entryError{hdr.Name, fmt.Errorf("%w: hard link to %q, which no earlier entry of the image created", ErrBadImage, hdr.Linkname)}
	}
	if err != nil {
		return x.resolveError(hdr.Name, target, err)
	}
	defer unix.Close(tfd)
	var st unix.Stat_t
	if err := unix.Fstat(tfd, &st); err != nil {
		return x.opError(hdr.Name, "stat hard link target", err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return &entryError{hdr.Name, fmt.Errorf("%w: hard link to directory %q", ErrBadImage, hdr.Linkname)}
	}
	_, err = x.create(pfd, name, base, hdr, func() (int, error) {
		// AT_EMPTY_PATH links the very inode resolved above (root only).
		return 0, unix.Linkat(tfd, "", pfd, base, unix.AT_EMPTY_PATH)
	})
	return err
}

// finishDirs applies directory metadata after every entry is in place,
// resolving each directory again beneath the root.
func (x *extractor) finishDirs() error {
	for _, name := range x.dirList {
		fd, err := OpenBeneath(x.root, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
		if err != nil {
			return x.resolveError(name, name, err)
		}
		err = x.applyDir(fd, x.dirMeta[name])
		unix.Close(fd)
		if err != nil {
			return x.opError(name, "set directory metadata", err)
		}
	}
	fd, err := unix.Openat(x.root, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return x.opError(".", "open root", err)
	}
	defer unix.Close(fd)
	if x.dirMeta["."] == nil && x.layer != nil && !x.layer.first {
		return nil // a later layer keeps the root the layers below made
	}
	return x.opError(".", "set root metadata", x.applyDir(fd, x.dirMeta["."]))
}

// applyDir sets a directory's metadata; a nil means a directory the image
// does not list (mode 0755, root, current time).
func (x *extractor) applyDir(fd int, a *attrs) error {
	if a == nil {
		return unix.Fchmod(fd, 0o755)
	}
	return a.applyFd(fd)
}

// opError names the entry and the operation that failed; nil stays nil.
func (x *extractor) opError(entry, op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*entryError); ok {
		return err
	}
	return &entryError{entry, fmt.Errorf("%s: %w", op, err)}
}

func typeName(t byte) string {
	switch t {
	case tar.TypeDir:
		return "directory"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "FIFO"
	}
	return "file"
}
