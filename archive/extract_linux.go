package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Result describes a tree made by Extract.
type Result struct {
	// Root is the extracted root filesystem: the destination itself, or
	// its single top-level directory when the image was wrapped in one.
	Root string
	// Size is the number of bytes of regular file content extracted.
	Size int64
	// Entries is the number of archive entries extracted.
	Entries int
}

// Extract reads an image from r (plain tar, gzip, zstd or xz, recognised by
// magic bytes) and restores it into the new directory dst, whose parent must
// exist, as GNU tar --numeric-owner --xattrs --xattrs-include='*' --acls
// would (SPEC §5). Nothing outside dst is created, changed or followed; a
// hostile, corrupt or truncated image is an error wrapping ErrBadImage that
// names the entry. On success the tree is synced to disk (syncfs); on
// failure or cancellation of ctx, dst is removed. Progress counts the bytes
// read from r; its total is r's size when r is a regular file, else -1.
func Extract(ctx context.Context, r io.Reader, dst string, p Progress) (Result, error) {
	return extract(ctx, r, dst, p, extractOpts{sync: true, maxSparse: maxSparseSize})
}

// extractOpts tunes extract and extractImage for the fuzz targets, which
// skip the sync (a syncfs per input would flush the disk thousands of
// times) and allow smaller sparse files.
type extractOpts struct {
	sync      bool
	maxSparse int64
}

func extract(ctx context.Context, r io.Reader, dst string, p Progress, opts extractOpts) (res Result, err error) {
	if err := os.Mkdir(dst, 0o700); err != nil {
		return res, fmt.Errorf("create %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dst)
		}
	}()
	pr := newProgressReader(ctx, r, sizeOf(r), p)
	x, err := newExtractor(ctx, dst)
	if err != nil {
		return res, err
	}
	x.sparse = &sparseBudget{left: opts.maxSparse, limit: opts.maxSparse}
	defer x.close()
	if err := x.run(pr); err != nil {
		if ctx.Err() != nil {
			return res, fmt.Errorf("extraction cancelled: %w", ctx.Err())
		}
		return res, err
	}
	if opts.sync {
		if err := SyncFS(dst); err != nil {
			return res, err
		}
	}
	pr.finish()
	return Result{Root: x.resultRoot(), Size: x.size, Entries: x.entries}, nil
}

func sizeOf(r io.Reader) int64 {
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return -1
}

// extractor holds the state of one extraction. Only its run goroutine
// touches it; file contents are written by its writers.
type extractor struct {
	ctx      context.Context
	dst      string
	root     int               // O_PATH descriptor of dst
	dirs     map[string]int    // cached O_PATH descriptors of directories
	dirMeta  map[string]*attrs // nil: a directory the image does not list
	dirList  []string          // directories in creation order, finished last
	dirBytes int               // what dirMeta and dirList hold (maxDirMeta)
	top      string            // the first component of every entry, if only one
	multi    bool              // entries have several first components
	size     int64
	entries  int
	w        *writers
	pending  map[string]chan struct{} // entries queued to the writers
	layer    *layerState              // applying a layer of an OCI image (oci_layer_linux.go)
	sparse   *sparseBudget            // shared by the layers of an image
}

func newExtractor(ctx context.Context, dst string) (*extractor, error) {
	fd, err := unix.Open(dst, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dst, err)
	}
	x := &extractor{ctx: ctx, dst: dst, root: fd, dirs: map[string]int{}, dirMeta: map[string]*attrs{},
		pending: map[string]chan struct{}{}}
	x.w = newWriters(x)
	return x, nil
}

func (x *extractor) close() {
	x.w.stop()
	x.closeDirs()
	unix.Close(x.root)
}

// run reads every entry, waits for the writers, then finishes directories.
func (x *extractor) run(r io.Reader) error {
	dr, release, err := decompressor(bufio.NewReaderSize(r, 1<<20))
	if err != nil {
		return err
	}
	defer release()
	tr := tar.NewReader(dr)
	last := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return x.readError(last, err)
		}
		if hdr, err = keptHeader(hdr); err != nil {
			return err
		}
		last = hdr.Name
		if err := x.w.failed(); err != nil {
			return err
		}
		if err := x.entry(hdr, tr); err != nil {
			if x.ctx.Err() == nil && isReadError(err) {
				return x.readError(last, err)
			}
			return err
		}
		x.entries++
	}
	// Read to the end so that the compressor's checksum is verified.
	if _, err := io.Copy(io.Discard, dr); err != nil {
		return x.readError(last, err)
	}
	if x.entries == 0 && x.layer == nil { // an OCI layer may be empty
		return fmt.Errorf("%w: the archive has no entries", ErrBadImage)
	}
	if err := x.w.wait(); err != nil {
		return err
	}
	return x.finishDirs()
}

// readError reports a failure to read the image after entry last.
func (x *extractor) readError(last string, err error) error {
	if x.ctx.Err() != nil {
		return x.ctx.Err()
	}
	where := "at the start"
	if last != "" {
		where = fmt.Sprintf("after entry %q", last)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the image is truncated (%s)", ErrBadImage, where)
	}
	if errors.Is(err, tar.ErrFieldTooLong) { // archive/tar's maxSpecialFileSize
		return fmt.Errorf("%w: an extended header or long name over the %d MiB limit on an entry's extended header (%s)",
			ErrBadImage, maxPAXBytes>>20, where)
	}
	var re *readErr
	if errors.As(err, &re) {
		err = re.err
	}
	if errors.Is(err, ErrBadImage) { // a decoder's limit, named already
		return fmt.Errorf("%w (%s)", err, where)
	}
	if diskError(err) {
		return fmt.Errorf("read image %s: %w", where, err)
	}
	return fmt.Errorf("%w: corrupt image %s: %w", ErrBadImage, where, err)
}

// readErr marks an error that came from reading the archive, not from
// writing the tree.
type readErr struct{ err error }

func (e *readErr) Error() string { return e.err.Error() }
func (e *readErr) Unwrap() error { return e.err }

func isReadError(err error) bool {
	var re *readErr
	return errors.As(err, &re)
}

// entry restores one archive entry.
func (x *extractor) entry(hdr *tar.Header, tr io.Reader) error {
	name, err := CleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return x.rootEntry(hdr)
	}
	x.noteTop(name)
	x.settle(name)
	if x.layer != nil {
		if done, err := x.layerEntry(name, hdr); done || err != nil {
			return err
		}
	}
	parent, base := SplitName(name)
	pfd, err := x.parentDir(hdr.Name, parent)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(pfd, name, base, hdr)
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont:
		return x.file(pfd, name, base, hdr, tr)
	case tar.TypeSymlink:
		return x.symlink(pfd, name, base, hdr)
	case tar.TypeLink:
		return x.hardlink(pfd, name, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return x.node(pfd, name, base, hdr)
	case tar.TypeXGlobalHeader:
		return nil
	}
	return &entryError{hdr.Name, fmt.Errorf("%w: unknown entry type %q", ErrBadImage, hdr.Typeflag)}
}

// rootEntry records the metadata of the "." entry, applied to the new root
// itself (never to anything above it) at the end.
func (x *extractor) rootEntry(hdr *tar.Header) error {
	if hdr.Typeflag != tar.TypeDir {
		return &entryError{hdr.Name, fmt.Errorf("%w: the root of the image must be a directory", ErrBadImage)}
	}
	a, err := attrsOf(hdr)
	if err != nil {
		return err
	}
	return x.keepDir(hdr.Name, ".", &a)
}

func (x *extractor) noteTop(name string) {
	t := TopOf(name)
	switch {
	case x.top == "":
		x.top = t
	case x.top != t:
		x.multi = true
	}
}

// resultRoot unwraps an image whose entries all live in one top-level
// directory that is not itself part of a root filesystem's layout.
func (x *extractor) resultRoot() string {
	if x.multi || x.top == "" || fhsTop[x.top] || x.layer != nil {
		return x.dst
	}
	var st unix.Stat_t
	p := filepath.Join(x.dst, x.top)
	if err := unix.Lstat(p, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return x.dst
	}
	return p
}
