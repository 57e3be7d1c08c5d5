package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	gohash "hash"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// ExtractImage extracts the image open as f into the new directory dst,
// whose parent must exist: an OCI image layout (a directory), an archive
// of one or a `docker save` archive (their layers applied in order with
// their whiteouts), or else a root filesystem archive (Extract). Its
// guarantees are Extract's: nothing outside dst is touched, a bad image is
// an error wrapping ErrBadImage, the tree is synced on success and dst is
// removed on failure.
func ExtractImage(ctx context.Context, f *os.File, dst string, p Progress) (Result, error) {
	return extractImage(ctx, f, dst, p, extractOpts{sync: true, maxSparse: maxSparseSize})
}

func extractImage(ctx context.Context, f *os.File, dst string, p Progress, opts extractOpts) (Result, error) {
	fi, err := f.Stat()
	if err != nil {
		return Result{}, fmt.Errorf("stat: %w", err)
	}
	var src blobSource
	switch {
	case fi.IsDir():
		if src, err = openLayoutDir(f); err != nil {
			return Result{}, err
		}
	case isLayerArchive(f):
		if src, err = indexArchive(f, fi.Size()); err != nil {
			return Result{}, err
		}
	default:
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return Result{}, fmt.Errorf("seek: %w", err)
		}
		return extract(ctx, f, dst, p, opts)
	}
	refs, err := imageLayers(src)
	if err != nil {
		return Result{}, err
	}
	return applyLayers(ctx, src, refs, dst, p, opts)
}

// blobSource reads the files of a layout directory or archive by path.
type blobSource interface {
	open(path string) (io.Reader, int64, func(), error)
	has(path string) bool
}

type dirSource struct{ fd int }

// openLayoutDir checks that the directory f is an OCI image layout.
func openLayoutDir(f *os.File) (dirSource, error) {
	d := dirSource{int(f.Fd())}
	if !d.has("oci-layout") || !d.has("index.json") {
		return d, fmt.Errorf("%w: %s is a directory but not an OCI image layout (no oci-layout or index.json file)", ErrBadImage, f.Name())
	}
	return d, nil
}

func (d dirSource) open(p string) (io.Reader, int64, func(), error) {
	fd, err := OpenBeneath(d.fd, p, unix.O_RDONLY|unix.O_NOFOLLOW)
	if err != nil {
		return nil, 0, nil, BadImage(p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, nil, fmt.Errorf("%w: %s is not a regular file", ErrBadImage, p)
	}
	return f, fi.Size(), func() { f.Close() }, nil
}

func (d dirSource) has(p string) bool {
	fd, err := OpenBeneath(d.fd, p, unix.O_PATH|unix.O_NOFOLLOW)
	if err == nil {
		unix.Close(fd)
	}
	return err == nil
}

// tarSource reads the members of an archive in place: each regular
// member's data is a section of the file.
type tarSource struct {
	f     *os.File
	files map[string][2]int64 // offset, size
}

func (t *tarSource) open(p string) (io.Reader, int64, func(), error) {
	loc, ok := t.files[p]
	if !ok {
		return nil, 0, nil, fmt.Errorf("%w: %s is missing from the archive", ErrBadImage, p)
	}
	return io.NewSectionReader(t.f, loc[0], loc[1]), loc[1], func() {}, nil
}

func (t *tarSource) has(p string) bool { _, ok := t.files[p]; return ok }

// IsLayered reports whether the image open as f is made of layers (an OCI
// image layout, an archive of one, a docker save archive) rather than
// being one root filesystem archive.
func IsLayered(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && (fi.IsDir() || isLayerArchive(f))
}

// isLayerArchive reports whether f is an uncompressed tar whose first
// members are those of an OCI layout or a docker save archive, not of a
// root filesystem.
func isLayerArchive(f *os.File) bool {
	tr := tar.NewReader(io.NewSectionReader(f, 0, 1<<62))
	for i := 0; i < 16; i++ {
		hdr, err := tr.Next()
		if err != nil {
			return false
		}
		name, err := CleanName(hdr.Name)
		if err != nil {
			return false
		}
		switch top := TopOf(name); {
		case name == "oci-layout" || name == "index.json" || name == "manifest.json" || name == "repositories" || top == "blobs":
			return true
		case len(top) == 64 && isHex(top) && (strings.HasSuffix(name, "/layer.tar") || strings.HasSuffix(name, "/VERSION")):
			return true
		}
	}
	return false
}

func isHex(s string) bool { _, err := hex.DecodeString(s); return err == nil }

// indexArchive lists where each regular member's data lies in f.
func indexArchive(f *os.File, size int64) (*tarSource, error) {
	sr := io.NewSectionReader(f, 0, size)
	tr := tar.NewReader(sr)
	t := &tarSource{f: f, files: map[string][2]int64{}}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			return nil, BadImage("image archive", err)
		}
		name, err := CleanName(hdr.Name)
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			// archive/tar reads exactly the header blocks: the section
			// reader stands at the member's data.
			off, _ := sr.Seek(0, io.SeekCurrent)
			t.files[name] = [2]int64{off, hdr.Size}
		}
	}
}

// imageLayers reads the layer list of a layout or archive.
func imageLayers(src blobSource) ([]layerRef, error) {
	if src.has("index.json") {
		return ociLayers(src)
	}
	if src.has("manifest.json") {
		r, _, done, err := src.open("manifest.json")
		if err != nil {
			return nil, err
		}
		defer done()
		refs, err := dockerLayers(r)
		if err != nil {
			return nil, err
		}
		return refs, checkLayerCount(refs)
	}
	return nil, fmt.Errorf("%w: the archive has neither index.json (OCI) nor manifest.json (docker save)", ErrBadImage)
}

func ociLayers(src blobSource) ([]layerRef, error) {
	refs, err := ociManifestLayers(src)
	if err != nil {
		return nil, err
	}
	return refs, checkLayerCount(refs)
}

func ociManifestLayers(src blobSource) ([]layerRef, error) {
	r, _, done, err := src.open("index.json")
	if err != nil {
		return nil, err
	}
	var idx ociIndex
	err = decodeJSON(r, "index.json", &idx)
	done()
	if err != nil {
		return nil, err
	}
	what := "index.json"
	for depth := 0; ; depth++ {
		d, err := pickManifest(idx, what)
		if err != nil {
			return nil, err
		}
		data, err := readBlob(src, d)
		if err != nil {
			return nil, err
		}
		what = "index " + d.Digest
		if isIndexType(d.MediaType) {
			if depth >= maxIndexDepth {
				return nil, fmt.Errorf("%w: image indexes nested over %d levels", ErrBadImage, maxIndexDepth)
			}
			idx = ociIndex{}
			if err := decodeJSON(bytes.NewReader(data), what, &idx); err != nil {
				return nil, err
			}
			continue
		}
		if d.MediaType != mtManifest && d.MediaType != mtDockerManifest && d.MediaType != "" {
			return nil, fmt.Errorf("%w: manifest %s has media type %q, not an image manifest", ErrBadImage, d.Digest, d.MediaType)
		}
		var m ociManifest
		what = "manifest " + d.Digest
		if err := decodeJSON(bytes.NewReader(data), what, &m); err != nil {
			return nil, err
		}
		return manifestLayers(m, what)
	}
}

// readBlob reads a small blob (an index or manifest) and checks its digest.
func readBlob(src blobSource, d ociDescriptor) ([]byte, error) {
	p, err := blobPath(d.Digest)
	if err != nil {
		return nil, err
	}
	r, _, done, err := src.open(p)
	if err != nil {
		return nil, err
	}
	defer done()
	h := newDigester(d.Digest)
	data, err := io.ReadAll(io.LimitReader(io.TeeReader(r, h), maxJSON+1))
	if err != nil {
		return nil, BadImage("read "+p, err)
	}
	if len(data) > maxJSON {
		return nil, fmt.Errorf("%w: %s is over %d MiB", ErrBadImage, p, maxJSON>>20)
	}
	if err := checkDigest(h, d.Digest, p); err != nil {
		return nil, err
	}
	return data, nil
}

func newDigester(digest string) gohash.Hash {
	if strings.HasPrefix(digest, "sha512:") {
		return sha512.New()
	}
	return sha256.New()
}

func checkDigest(h gohash.Hash, digest, what string) error {
	_, want, _ := strings.Cut(digest, ":")
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%w: %s does not match its digest %s (it hashes to %s): the image is corrupt", ErrBadImage, what, digest, got)
	}
	return nil
}

// applyLayers applies the layers in order into the new directory dst and
// syncs it; on failure dst is removed.
func applyLayers(ctx context.Context, src blobSource, refs []layerRef, dst string, p Progress, opts extractOpts) (res Result, err error) {
	if err := os.Mkdir(dst, 0o700); err != nil {
		return res, fmt.Errorf("create %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dst)
		}
	}()
	var total, done int64
	sparse := &sparseBudget{left: opts.maxSparse, limit: opts.maxSparse}
	for _, ref := range refs {
		_, n, release, err := src.open(ref.Path)
		if err != nil {
			return res, fmt.Errorf("layer %s: %w", ref.Path, err)
		}
		release()
		total += n
	}
	for i, ref := range refs {
		n, err := applyRef(ctx, src, ref, dst, i == 0, sparse, &res, func(d, _ int64) {
			if p != nil {
				p(done+d, total)
			}
		})
		if err != nil {
			return res, fmt.Errorf("layer %d (%s): %w", i+1, ref.Path, err)
		}
		done += n
	}
	if opts.sync {
		if err := SyncFS(dst); err != nil {
			return res, err
		}
	}
	res.Root = dst
	return res, nil
}

// applyRef applies one layer, checking its content against its digest.
func applyRef(ctx context.Context, src blobSource, ref layerRef, dst string, first bool, sparse *sparseBudget, res *Result, p Progress) (int64, error) {
	r, n, release, err := src.open(ref.Path)
	if err != nil {
		return 0, err
	}
	defer release()
	var h gohash.Hash
	if ref.Digest != "" {
		h = newDigester(ref.Digest)
		r = io.TeeReader(r, h)
	}
	lr, err := applyLayer(ctx, r, dst, first, sparse, p)
	if err != nil {
		return 0, err
	}
	res.Size += lr.Size
	res.Entries += lr.Entries
	if h != nil {
		// The extractor may stop before the end of the compressed stream.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return 0, BadImage("read", err)
		}
		if err := checkDigest(h, ref.Digest, "the layer"); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// applyLayer extracts one layer over the tree dst (see layerEntry).
func applyLayer(ctx context.Context, r io.Reader, dst string, first bool, sparse *sparseBudget, p Progress) (Result, error) {
	pr := newProgressReader(ctx, r, -1, p)
	x, err := newExtractor(ctx, dst)
	if err != nil {
		return Result{}, err
	}
	x.sparse = sparse
	x.layer = &layerState{first: first, created: map[string]bool{}}
	defer x.close()
	if err := x.run(pr); err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("extraction cancelled: %w", ctx.Err())
		}
		return Result{}, err
	}
	pr.finish()
	return Result{Root: dst, Size: x.size, Entries: x.entries}, nil
}
