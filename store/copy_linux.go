package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"initns/archive"
)

// copyTree copies the directory tree src into the new directory dst (its
// parent must exist) faithfully: owners, every mode bit, nanosecond times,
// xattrs (security.capability, POSIX ACLs, overlayfs's trusted.overlay.*),
// hard links kept as links, symlinks, devices, FIFOs, sockets and sparse
// files. File data is shared with FICLONE (a reflink) where the file
// system supports it, else copied extent by extent so holes stay holes. It
// stays on src's file system and never follows a symlink. A cancelled ctx
// stops it between entries, with an error; the caller removes dst.
func copyTree(ctx context.Context, src, dst string) error {
	c := &copier{ctx: ctx, links: map[archive.FileID]string{}, dstRoot: dst}
	sfd, st, err := archive.OpenDir(src, unix.O_NOFOLLOW)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer unix.Close(sfd)
	c.dev = st.Dev
	if err := os.Mkdir(dst, 0o700); err != nil {
		return fmt.Errorf("copy into %s: %w", dst, err)
	}
	dfd, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("copy into %s: %w", dst, err)
	}
	defer unix.Close(dfd)
	if err := c.dir(sfd, dfd, "."); err != nil {
		return err
	}
	return c.meta(sfd, dfd, "", st)
}

// copier holds the state of one copyTree.
type copier struct {
	ctx     context.Context // a client that went away stops the copy
	dev     uint64
	links   map[archive.FileID]string // first copy of each multiply linked inode
	dstRoot string
}

// dir copies the entries of the open directory sfd into dfd.
func (c *copier) dir(sfd, dfd int, rel string) error {
	names, err := archive.ReadDirNames(sfd)
	if err != nil {
		return fmt.Errorf("copy: read directory %s: %w", rel, err)
	}
	for _, name := range names {
		if err := c.ctx.Err(); err != nil {
			return fmt.Errorf("copy cancelled: %w", err)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(sfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("copy: stat %s: %w", filepath.Join(rel, name), err)
		}
		if err := c.entry(sfd, dfd, name, filepath.Join(rel, name), &st); err != nil {
			return err
		}
	}
	return nil
}

// entry copies one directory entry and its metadata.
func (c *copier) entry(sfd, dfd int, name, rel string, st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Nlink > 1 {
		id := archive.FileID{Dev: st.Dev, Ino: st.Ino}
		if first, ok := c.links[id]; ok {
			err := unix.Linkat(unix.AT_FDCWD, filepath.Join(c.dstRoot, first), dfd, name, 0)
			return copyErr(rel, "link", err)
		}
		c.links[id] = rel
	}
	// The same dispatch on the type as archive's snapshot writer
	// (archiver.entry), with nothing else in common: that one writes a tar
	// stream, this one a directory.
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return c.subdir(sfd, dfd, name, rel, st)
	case unix.S_IFREG:
		return c.file(sfd, dfd, name, rel, st)
	case unix.S_IFLNK:
		target, err := readlinkAt(sfd, name)
		if err == nil {
			err = unix.Symlinkat(target, dfd, name)
		}
		if err != nil {
			return copyErr(rel, "symlink", err)
		}
	default: // devices, FIFOs, sockets
		if err := unix.Mknodat(dfd, name, st.Mode, int(st.Rdev)); err != nil {
			return copyErr(rel, "mknod", err)
		}
	}
	return c.metaAt(sfd, dfd, name, rel, st)
}

func (c *copier) subdir(sfd, dfd int, name, rel string, st *unix.Stat_t) error {
	if err := unix.Mkdirat(dfd, name, 0o700); err != nil {
		return copyErr(rel, "mkdir", err)
	}
	if st.Dev != c.dev {
		return c.metaAt(sfd, dfd, name, rel, st) // a mount point: copied empty
	}
	s, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return copyErr(rel, "open", err)
	}
	defer unix.Close(s)
	d, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return copyErr(rel, "open", err)
	}
	defer unix.Close(d)
	if err := c.dir(s, d, rel); err != nil {
		return err
	}
	// Times last: creating the children changed the directory's mtime.
	return c.meta(s, d, rel, st)
}

func (c *copier) file(sfd, dfd int, name, rel string, st *unix.Stat_t) error {
	// O_NONBLOCK: a FIFO put in the file's place since the stat fails the
	// copy instead of blocking it.
	s, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return copyErr(rel, "open", err)
	}
	defer unix.Close(s)
	d, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return copyErr(rel, "create", err)
	}
	defer unix.Close(d)
	if err := copyData(s, d, st.Size); err != nil {
		return copyErr(rel, "copy data", err)
	}
	return c.meta(s, d, rel, st)
}

// copyData shares s's data with d by FICLONE, or copies its data extents
// (SEEK_DATA/SEEK_HOLE) with copy_file_range so that holes stay holes.
func copyData(s, d int, size int64) error {
	if size == 0 || unix.IoctlFileClone(d, s) == nil {
		return nil
	}
	if err := unix.Ftruncate(d, size); err != nil {
		return err
	}
	for off := int64(0); off < size; {
		start, err := unix.Seek(s, off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			return nil // only a hole remains
		}
		if err != nil {
			return err
		}
		end, err := unix.Seek(s, start, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		if err := copyRange(s, d, start, end-start); err != nil {
			return err
		}
		off = end
	}
	return nil
}

func copyRange(s, d int, off, n int64) error {
	for n > 0 {
		in, out := off, off
		m, err := unix.CopyFileRange(s, &in, d, &out, int(min(n, 1<<30)), 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if m == 0 {
			return io.ErrUnexpectedEOF // the file shrank meanwhile
		}
		off += int64(m)
		n -= int64(m)
	}
	return nil
}

// meta sets owner, mode, xattrs and times of the open d from the open s.
// Order matters: chown clears setuid bits and security.capability, so the
// mode and the xattrs come after it.
func (c *copier) meta(s, d int, rel string, st *unix.Stat_t) error {
	if err := unix.Fchown(d, int(st.Uid), int(st.Gid)); err != nil {
		return copyErr(rel, "chown", err)
	}
	if err := unix.Fchmod(d, st.Mode&0o7777); err != nil {
		return copyErr(rel, "chmod", err)
	}
	if err := copyFdXattrs(s, d); err != nil {
		return copyErr(rel, "copy xattrs", err)
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	return copyErr(rel, "set times", unix.UtimesNanoAt(unix.AT_FDCWD, fdPath(d), ts, 0))
}

// metaAt does meta for an entry that cannot be opened (symlink, device,
// FIFO, socket), never following it.
func (c *copier) metaAt(sfd, dfd int, name, rel string, st *unix.Stat_t) error {
	if err := unix.Fchownat(dfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return copyErr(rel, "chown", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Fchmodat(dfd, name, st.Mode&0o7777, 0); err != nil {
			return copyErr(rel, "chmod", err)
		}
	}
	if err := copyXattrs(filepath.Join(fdPath(sfd), name), filepath.Join(fdPath(dfd), name)); err != nil {
		return copyErr(rel, "copy xattrs", err)
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	return copyErr(rel, "set times", unix.UtimesNanoAt(dfd, name, ts, unix.AT_SYMLINK_NOFOLLOW))
}

// fdPath names an open file through /proc, for the calls that take a path
// only; the l* xattr calls on it never follow a final symlink.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// copyXattrs copies every extended attribute of src to dst (both paths,
// final symlinks not followed).
func copyXattrs(src, dst string) error {
	names, err := listXattrs(src)
	if err != nil {
		return err
	}
	for _, n := range names {
		v, err := getXattr(src, n)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		if err := unix.Lsetxattr(dst, n, v, 0); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return nil
}

// copyFdXattrs copies every extended attribute of the open file s to d.
func copyFdXattrs(s, d int) error {
	names, err := listXattrsWith(func(b []byte) (int, error) { return unix.Flistxattr(s, b) })
	if err != nil {
		return err
	}
	for _, n := range names {
		v, err := getXattrWith(func(b []byte) (int, error) { return unix.Fgetxattr(s, n, b) })
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		if err := unix.Fsetxattr(d, n, v, 0); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return nil
}

func listXattrs(p string) ([]string, error) {
	return listXattrsWith(func(b []byte) (int, error) { return unix.Llistxattr(p, b) })
}

func getXattr(p, name string) ([]byte, error) {
	return getXattrWith(func(b []byte) (int, error) { return unix.Lgetxattr(p, name, b) })
}

func listXattrsWith(list func([]byte) (int, error)) ([]string, error) {
	b, err := untilBigEnough(4096, 4, list)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return splitNul(b), nil
}

func getXattrWith(get func([]byte) (int, error)) ([]byte, error) {
	return untilBigEnough(256, 16, get)
}

// untilBigEnough calls f with a buffer of size bytes, growing it by factor
// as long as f fails with ERANGE (too small), and returns the bytes f
// filled.
func untilBigEnough(size, factor int, f func([]byte) (int, error)) ([]byte, error) {
	buf := make([]byte, size)
	for {
		n, err := f(buf)
		switch {
		case err == unix.ERANGE:
			buf = make([]byte, len(buf)*factor)
		case err != nil:
			return nil, err
		default:
			return buf[:n], nil
		}
	}
}

func splitNul(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 1
		}
	}
	return out
}

func readlinkAt(dfd int, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(dfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, len(buf)*4)
	}
}

func copyErr(rel, op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("copy %s: %s: %w", rel, op, err)
}
