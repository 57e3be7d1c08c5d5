package store

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"initns/archive"
)

// plainDiff compares a plain instance's tree with its image's entries.
type plainDiff struct {
	ctx    context.Context
	t      tree
	prefix string          // the wrapper directory Extract unwrapped, if any
	seen   map[string]bool // entries of the image
	gone   map[string]bool // deleted directories: what lay beneath is not listed
	out    []Change
	top    string // the first component of every entry, if only one
	multi  bool
	topDir bool // the image lists top as a directory
}

func (s *Store) diffPlain(ctx context.Context, in Instance) ([]Change, error) {
	t, err := openTree(s.RootfsPath(in.Name))
	if err != nil {
		return nil, err
	}
	defer t.close()
	src, cleanup, err := s.diffSource(ctx, in.Image)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	d, err := diffPass(ctx, src, t, "")
	if err != nil {
		return nil, err
	}
	// The image was unwrapped at extraction (see archive.Extract): compare again
	// with its single top-level directory as the root.
	if src.wrappable && !d.multi && d.top != "" && !archive.IsFHSTop(d.top) && d.topDir {
		if d, err = diffPass(ctx, src, t, d.top); err != nil {
			return nil, err
		}
	}
	if err := d.added("."); err != nil {
		return nil, err
	}
	return d.out, nil
}

// diffSource streams the entries of an image as a tar archive.
type diffSource struct {
	open      func() (io.Reader, func(), error)
	wrappable bool // Extract may have unwrapped a top-level directory
}

// diffSource opens the image: a root filesystem archive is read as it is;
// an OCI or Docker image is extracted into scratch/ once and its tree
// archived on the fly, its layers being meaningless one by one.
func (s *Store) diffSource(ctx context.Context, image string) (diffSource, func(), error) {
	f, err := os.Open(s.ImagePath(image))
	if errors.Is(err, os.ErrNotExist) {
		return diffSource{}, nil, fmt.Errorf("image %q %w in %s: a plain instance is compared with its image", image, ErrNotExist, s.path(imagesDir))
	}
	if err != nil {
		return diffSource{}, nil, fmt.Errorf("open image: %w", err)
	}
	if archive.IsLayered(f) {
		return s.layeredSource(ctx, f, image)
	}
	open := func() (io.Reader, func(), error) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, nil, err
		}
		dr, release, err := archive.Decompress(f)
		if err != nil {
			return nil, nil, fmt.Errorf("image %s: %w", image, err)
		}
		return dr, release, nil
	}
	return diffSource{open: open, wrappable: true}, func() { f.Close() }, nil
}

func (s *Store) layeredSource(ctx context.Context, f *os.File, image string) (diffSource, func(), error) {
	defer f.Close()
	job, err := os.MkdirTemp(s.path(scratchDir), "diff-")
	if err != nil {
		return diffSource{}, nil, fmt.Errorf("scratch folder: %w", err)
	}
	cleanup := func() { removeTree(job) }
	res, err := archive.ExtractImage(ctx, f, filepath.Join(job, "root"), nil)
	if err != nil {
		cleanup()
		return diffSource{}, nil, fmt.Errorf("image %s: %w", image, err)
	}
	open := func() (io.Reader, func(), error) {
		pr, pw := io.Pipe()
		go func() {
			pw.CloseWithError(archive.WriteTar(ctx, res.Root, pw, archive.FileID{}, nil))
		}()
		return pr, func() { pr.Close() }, nil
	}
	return diffSource{open: open}, cleanup, nil
}

// diffPass streams the image and compares each entry with the tree.
func diffPass(ctx context.Context, src diffSource, t tree, prefix string) (*plainDiff, error) {
	r, release, err := src.open()
	if err != nil {
		return nil, err
	}
	defer release()
	d := &plainDiff{ctx: ctx, t: t, prefix: prefix, seen: map[string]bool{".": true}, gone: map[string]bool{}}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return d, nil
		}
		if err != nil {
			return nil, archive.BadImage("read image", err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := d.entry(hdr, tr); err != nil {
			return nil, err
		}
	}
}

func (d *plainDiff) add(rel string, k ChangeKind) {
	d.out = append(d.out, Change{Path: changePath(rel), Kind: k})
}

// entry compares one image entry with the tree.
func (d *plainDiff) entry(hdr *tar.Header, data io.Reader) error {
	name, err := archive.CleanName(hdr.Name)
	if err != nil || name == "." || hdr.Typeflag == tar.TypeXGlobalHeader {
		return err
	}
	d.noteTop(name, hdr)
	if d.prefix != "" {
		if name == d.prefix || !strings.HasPrefix(name, d.prefix+"/") {
			return nil
		}
		name = name[len(d.prefix)+1:]
	}
	// Parents the image does not list were made by extraction.
	for p := name; p != "." && !d.seen[p]; p = parentOf(p) {
		d.seen[p] = true
	}
	if d.underGone(name) {
		return nil
	}
	st, ok, err := d.t.stat(name)
	if err != nil {
		return err
	}
	if !ok {
		d.add(name, Deleted)
		if hdr.Typeflag == tar.TypeDir {
			d.gone[name] = true
		}
		return nil
	}
	same, err := d.same(name, hdr, &st, data)
	if err != nil {
		return err
	}
	if !same {
		d.add(name, Modified)
	}
	return nil
}

func (d *plainDiff) noteTop(name string, hdr *tar.Header) {
	t := archive.TopOf(name)
	switch {
	case d.top == "":
		d.top = t
	case d.top != t:
		d.multi = true
	}
	if name == t && hdr.Typeflag == tar.TypeDir {
		d.topDir = true
	}
}

func (d *plainDiff) underGone(name string) bool {
	for p := parentOf(name); p != "."; p = parentOf(p) {
		if d.gone[p] {
			return true
		}
	}
	return false
}

// same reports whether the tree's rel still is what hdr describes.
func (d *plainDiff) same(rel string, hdr *tar.Header, st *unix.Stat_t, data io.Reader) (bool, error) {
	if hdr.Typeflag == tar.TypeLink {
		return d.sameLink(hdr, st)
	}
	if st.Mode&unix.S_IFMT != tarType(hdr.Typeflag) {
		return false, nil
	}
	if hdr.Typeflag != tar.TypeSymlink && (st.Mode&0o7777 != uint32(hdr.Mode&0o7777) || int(st.Uid) != hdr.Uid || int(st.Gid) != hdr.Gid) {
		return false, nil
	}
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		return d.t.readlink(rel) == hdr.Linkname && int(st.Uid) == hdr.Uid && int(st.Gid) == hdr.Gid, nil
	case tar.TypeChar, tar.TypeBlock:
		return st.Rdev == unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)), nil
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont:
		if st.Size != hdr.Size {
			return false, nil
		}
		if time.Unix(st.Mtim.Sec, st.Mtim.Nsec).Equal(hdr.ModTime) {
			return true, nil
		}
		return d.sameContent(rel, data)
	}
	return true, nil
}

// sameLink: a hard link entry still shares the inode of its target.
func (d *plainDiff) sameLink(hdr *tar.Header, st *unix.Stat_t) (bool, error) {
	target, err := archive.CleanName(hdr.Linkname)
	if err != nil {
		return false, nil
	}
	if d.prefix != "" {
		target = strings.TrimPrefix(target, d.prefix+"/")
	}
	tst, ok, err := d.t.stat(target)
	return ok && tst.Ino == st.Ino && tst.Dev == st.Dev, err
}

// sameContent compares the file rel with the entry's data. The running
// instance may have put a FIFO or a device in the file's place since it
// was stat'ed: O_NONBLOCK keeps the open from waiting for a writer, and
// what was opened is checked to be a regular file before it is read.
func (d *plainDiff) sameContent(rel string, data io.Reader) (bool, error) {
	fd, err := archive.OpenBeneath(d.t.root, rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOATIME)
	if movedAway(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open %s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, fmt.Errorf("stat %s: %w", rel, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false, nil
	}
	a, b := make([]byte, 64<<10), make([]byte, 64<<10)
	fr := bufio.NewReader(f)
	for {
		n, err := io.ReadFull(data, a)
		if n > 0 {
			if _, ferr := io.ReadFull(fr, b[:n]); ferr != nil || !bytes.Equal(a[:n], b[:n]) {
				return false, nil
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return true, nil
		}
		if err != nil {
			return false, archive.BadImage("read image", err)
		}
	}
}

func tarType(t byte) uint32 {
	switch t {
	case tar.TypeDir:
		return unix.S_IFDIR
	case tar.TypeSymlink:
		return unix.S_IFLNK
	case tar.TypeChar:
		return unix.S_IFCHR
	case tar.TypeBlock:
		return unix.S_IFBLK
	case tar.TypeFifo:
		return unix.S_IFIFO
	}
	return unix.S_IFREG
}

// added lists every path of the tree below rel that the image lacks,
// staying on the tree's file system.
func (d *plainDiff) added(rel string) error {
	if err := d.ctx.Err(); err != nil {
		return err
	}
	names, err := d.t.names(rel)
	if err != nil {
		return err
	}
	for _, n := range names {
		p := archive.JoinName(rel, n)
		st, ok, err := d.t.stat(p)
		if err != nil || !ok {
			continue // removed meanwhile
		}
		if !d.seen[p] {
			d.add(p, Added)
		}
		if isDir(&st) {
			if err := d.added(p); err != nil {
				return err
			}
		}
	}
	return nil
}
