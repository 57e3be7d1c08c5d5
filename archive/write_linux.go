package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// archiver writes a directory tree as a PAX tar archive that GNU tar
// --numeric-owner --xattrs --xattrs-include='*' --acls restores exactly:
// numeric owners, all mode bits, nanosecond mtimes, hard links as links,
// devices, FIFOs, xattrs (SCHILY.xattr.*), ACLs (SCHILY.acl.* as well as
// the binary xattr, as GNU tar writes them) and sparse files (PAX 1.0). It
// stays on the file system of the top directory, as tar --one-file-system
// does (a mount point is archived, empty), skips sockets (tar cannot hold
// them) and the directory skip (the state root). It never follows a
// symlink: every name is opened relative to its parent with O_NOFOLLOW.
type archiver struct {
	ctx   context.Context
	tw    *tar.Writer
	raw   io.Writer // under tw, for the hand-written sparse members
	dev   uint64
	skip  FileID
	links map[FileID]string
	pc    *Counter
	buf   []byte
	xbuf  []byte
}

// FileID identifies a file: its device and inode numbers.
type FileID struct{ Dev, Ino uint64 }

// WriteImage archives the tree at dir into w (buffered here) as an image
// in format (FormatOf), leaving out the directory skip (the zero FileID
// skips nothing). Progress goes to pc, which may be nil. It flushes the
// compressor and its buffer but does not sync or close w.
func WriteImage(ctx context.Context, dir string, w io.Writer, format string, skip FileID, pc *Counter) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	cw, err := compressor(bw, format)
	if err != nil {
		return err
	}
	if err := WriteTar(ctx, dir, cw, skip, pc); err != nil {
		cw.Close()
		return err
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("compress: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// WriteTar archives the tree at dir into w as an uncompressed PAX archive,
// as WriteImage does.
func WriteTar(ctx context.Context, dir string, w io.Writer, skip FileID, pc *Counter) error {
	fd, st, err := OpenDir(dir, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	a := &archiver{ctx: ctx, tw: tar.NewWriter(w), raw: w, dev: st.Dev, skip: skip,
		links: map[FileID]string{}, pc: pc, buf: make([]byte, 1<<20), xbuf: make([]byte, 64<<10)}
	hdr, err := a.header(fd, "", st, "./")
	if err != nil {
		return err
	}
	if err := a.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	if err := a.dir(fd, dir, "./"); err != nil {
		return err
	}
	if err := a.tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

// dir archives the entries of the open directory fd, sorted by name so the
// archive is reproducible.
func (a *archiver) dir(fd int, path, rel string) error {
	names, err := ReadDirNames(fd)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", path, err)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		var st unix.Stat_t
		err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.ENOENT {
			continue // removed while we read the directory
		}
		if err != nil {
			return fmt.Errorf("stat %s/%s: %w", path, name, err)
		}
		if err := a.entry(fd, name, path+"/"+name, rel+name, &st); err != nil {
			return err
		}
	}
	return nil
}

// ReadDirNames lists the names in the open directory fd (from its start,
// without "." and ".."), in the order the file system gives them.
func ReadDirNames(fd int) ([]string, error) {
	if _, err := unix.Seek(fd, 0, io.SeekStart); err != nil {
		return nil, err
	}
	buf := make([]byte, 64<<10)
	var names []string
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// entry archives one file of any type.
func (a *archiver) entry(pfd int, name, path, rel string, st *unix.Stat_t) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return a.subdir(pfd, name, path, rel, st)
	case unix.S_IFREG:
		return a.file(pfd, name, path, rel, st)
	case unix.S_IFSOCK:
		return nil // tar has no socket type; GNU tar skips them too
	}
	hdr, err := a.header(pfd, name, st, rel)
	if vanished(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("archive %s: %w", path, err)
	}
	return a.writeHeader(hdr, path)
}

// vanished reports an error that means the file was removed after its
// directory was read; GNU tar warns and goes on, and so does a snapshot of
// a live tree here.
func vanished(err error) bool {
	return errors.Is(err, unix.ENOENT)
}

// openEntry opens the entry name of the directory pfd (path names it in
// an error) with flags added to O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC.
// O_NONBLOCK: a FIFO put in the entry's place since its stat must not make
// the open wait for a writer. The descriptor is -1, with a nil error, when
// the entry vanished since its directory was read.
func openEntry(pfd int, name, path string, flags int) (int, error) {
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|flags, 0)
	if vanished(err) {
		return -1, nil
	}
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	return fd, nil
}

func (a *archiver) subdir(pfd int, name, path, rel string, st *unix.Stat_t) error {
	if (FileID{st.Dev, st.Ino}) == a.skip {
		return nil
	}
	fd, err := openEntry(pfd, name, path, unix.O_DIRECTORY)
	if fd < 0 {
		return err
	}
	defer unix.Close(fd)
	hdr, err := a.header(fd, "", st, rel+"/")
	if err != nil {
		return fmt.Errorf("archive %s: %w", path, err)
	}
	if err := a.writeHeader(hdr, path); err != nil {
		return err
	}
	if st.Dev != a.dev {
		return nil // another file system: the mount point only
	}
	return a.dir(fd, path, rel+"/")
}

func (a *archiver) file(pfd int, name, path, rel string, st *unix.Stat_t) error {
	id := FileID{st.Dev, st.Ino}
	if first, ok := a.links[id]; ok && st.Nlink > 1 {
		hdr := &tar.Header{Typeflag: tar.TypeLink, Name: rel, Linkname: first, Format: tar.FormatPAX,
			Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid), ModTime: mtimeOf(st)}
		return a.writeHeader(hdr, path)
	}
	// O_NOATIME: archiving must not change the tree (root may use it on
	// any file).
	fd, err := openEntry(pfd, name, path, unix.O_NOATIME)
	if fd < 0 {
		return err
	}
	defer unix.Close(fd)
	// The header describes the file opened, whatever the name held when
	// the directory was read.
	if err := unix.Fstat(fd, st); err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil // replaced by another kind of file meanwhile
	}
	if st.Nlink > 1 {
		a.links[FileID{st.Dev, st.Ino}] = rel
	}
	hdr, err := a.header(fd, "", st, rel)
	if err != nil {
		return fmt.Errorf("archive %s: %w", path, err)
	}
	if st.Blocks*512 < st.Size {
		if regions, ok := dataRegions(fd, st.Size); ok {
			return a.sparse(fd, hdr, regions, path)
		}
	}
	if err := a.writeHeader(hdr, path); err != nil {
		return err
	}
	return a.copyData(fd, 0, hdr.Size, a.tw, path)
}

// copyData copies n bytes of fd from offset off to w; a file that shrank meanwhile is
// padded with zeros (as GNU tar does) so the archive stays well formed.
func (a *archiver) copyData(fd int, off, n int64, w io.Writer, path string) error {
	for end := off + n; off < end; {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		b := a.buf[:min(int64(len(a.buf)), end-off)]
		m, err := unix.Pread(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if m == 0 {
			clear(b)
			m = len(b)
		}
		if _, err := w.Write(b[:m]); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		off += int64(m)
		a.pc.add(int64(m))
	}
	return nil
}

func (a *archiver) writeHeader(hdr *tar.Header, path string) error {
	if err := a.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive %s: %w", path, err)
	}
	return nil
}

// header builds the entry for a file: fd is the file itself when name is
// "", else its parent directory (symlinks, devices, FIFOs).
func (a *archiver) header(fd int, name string, st *unix.Stat_t, rel string) (*tar.Header, error) {
	hdr := &tar.Header{Name: rel, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: mtimeOf(st), Format: tar.FormatPAX}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		n, err := unix.Readlinkat(fd, name, a.xbuf)
		if err != nil {
			return nil, fmt.Errorf("readlink: %w", err)
		}
		hdr.Linkname = string(a.xbuf[:n])
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, fmt.Errorf("unknown file type %o", st.Mode&unix.S_IFMT)
	}
	recs, err := a.xattrRecords(fd, name)
	if err != nil {
		return nil, err
	}
	hdr.PAXRecords = recs
	return hdr, nil
}

func mtimeOf(st *unix.Stat_t) time.Time {
	return time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
}

// xattrRecords reads every extended attribute as a SCHILY.xattr record,
// adding GNU tar's SCHILY.acl text records for the ACLs.
func (a *archiver) xattrRecords(fd int, name string) (map[string]string, error) {
	list, get := a.xattrFuncs(fd, name)
	n, err := list(a.xbuf)
	if err == unix.ERANGE {
		return nil, fmt.Errorf("list extended attributes: too many")
	}
	if err == unix.ENOTSUP || n <= 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list extended attributes: %w", err)
	}
	recs := map[string]string{}
	names := strings.Split(strings.TrimRight(string(a.xbuf[:n]), "\x00"), "\x00")
	val := make([]byte, maxXattrValue)
	for _, x := range names {
		m, err := get(x, val)
		if err == unix.ENODATA {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read extended attribute %s: %w", x, err)
		}
		v := string(val[:m])
		recs[paxXattr+x] = v
		if x == aclXattrAccess || x == aclXattrDefault {
			text, err := aclXattrToText([]byte(v))
			if err != nil {
				return nil, fmt.Errorf("extended attribute %s: %w", x, err)
			}
			recs[map[string]string{aclXattrAccess: paxACLAccess, aclXattrDefault: paxACLDefault}[x]] = text
		}
	}
	return recs, nil
}

// xattrFuncs reads xattrs through fd itself, or, for a file that was not
// opened (symlink, device, FIFO), through the /proc magic link of its
// parent with the l* calls that do not follow a final symlink.
func (a *archiver) xattrFuncs(fd int, name string) (func([]byte) (int, error), func(string, []byte) (int, error)) {
	if name == "" {
		return func(b []byte) (int, error) { return unix.Flistxattr(fd, b) },
			func(x string, b []byte) (int, error) { return unix.Fgetxattr(fd, x, b) }
	}
	p := "/proc/self/fd/" + strconv.Itoa(fd) + "/" + name
	return func(b []byte) (int, error) { return unix.Llistxattr(p, b) },
		func(x string, b []byte) (int, error) { return unix.Lgetxattr(p, x, b) }
}

// dataRegions maps the data of a sparse file with SEEK_DATA/SEEK_HOLE.
func dataRegions(fd int, size int64) ([]sparseRegion, bool) {
	var regions []sparseRegion
	var off int64
	for off < size {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole up to the end
		}
		if err != nil {
			return nil, false
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return nil, false
		}
		hole = min(hole, size)
		regions = append(regions, sparseRegion{data, hole - data})
		off = hole
	}
	return regions, true
}

// sparse writes a sparse file as a GNU PAX 1.0 sparse member.
func (a *archiver) sparse(fd int, hdr *tar.Header, regions []sparseRegion, path string) error {
	smap := sparseMap(regions, hdr.Size)
	dataLen := int64(len(smap))
	for _, r := range regions {
		dataLen += r.len
	}
	head, err := sparseHeaders(hdr.Name, hdr.Mode, hdr.Uid, hdr.Gid, hdr.ModTime, hdr.Size, dataLen, hdr.PAXRecords)
	if err != nil {
		return fmt.Errorf("archive %s: %w", path, err)
	}
	if err := a.tw.Flush(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	if _, err := a.raw.Write(append(head, smap...)); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	for _, r := range regions {
		if err := a.copyRange(fd, r, path); err != nil {
			return err
		}
	}
	if pad := dataLen % blockSize; pad != 0 {
		if _, err := a.raw.Write(make([]byte, blockSize-pad)); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
	return nil
}

func (a *archiver) copyRange(fd int, r sparseRegion, path string) error {
	return a.copyData(fd, r.off, r.len, a.raw, path)
}
