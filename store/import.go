package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"initns/archive"
)

// Origin says where an image came from (pull) or went to (push): the
// source the user named and the digest it was verified against.
type Origin struct {
	Source string `json:"source"` // images:debian/12, docker://REG/REPO:TAG, https://...
	Digest string `json:"digest"` // sha256:HEX: the file's, or an OCI image's manifest
	// Ino and Size tie the record to the file it describes: an image
	// replaced by hand under the same name does not inherit it.
	Ino  uint64 `json:"ino"`
	Size int64  `json:"size"`
}

// originsF is the file under the state root holding the origin of each
// pulled image, as a JSON object by image name.
const originsF = "images.origin"

// Import publishes the file src, which a client downloaded and verified,
// as the new image images/<image>. The file is copied into scratch/ while
// its SHA-256 is computed; a digest other than sha256hex, a read error or a
// cancelled ctx leave nothing behind. The origin is recorded before the
// image is linked into images/ (which fails rather than overwrite), so an
// image is never listed without it. If image exists and was pulled from a
// source with origin.Digest, Import does nothing and returns true.
func (s *Store) Import(ctx context.Context, image string, src *os.File, sha256hex string, origin Origin, p Progress) (unchanged bool, err error) {
	if err := ValidImageName(image); err != nil {
		return false, err
	}
	if b, err := hex.DecodeString(sha256hex); err != nil || len(b) != sha256.Size {
		return false, fmt.Errorf("import %s: %q is not a SHA-256 in hex", image, sha256hex)
	}
	if o, ok := s.Origin(image); ok && o.Digest == origin.Digest {
		return true, nil
	}
	fi, err := src.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return false, fmt.Errorf("import %s: the descriptor passed is not a regular file (the initns client passes the downloaded file)", image)
	}
	if err := s.reserveImage(image); err != nil {
		return false, err
	}
	defer s.releaseImage(image)
	return false, s.publishImage(image, func(tmp *os.File) error {
		return copyVerified(ctx, tmp, src, fi.Size(), sha256hex, p)
	}, func(tmp *os.File) error {
		return s.recordOrigin(image, tmp, origin)
	})
}

// copyVerified copies size bytes of src into dst, and fails unless they
// hash to sha256hex and src holds no more.
func copyVerified(ctx context.Context, dst, src *os.File, size int64, sha256hex string, p Progress) error {
	h := sha256.New()
	cr := archive.NewCountingReader(ctx, io.NewSectionReader(src, 0, size+1), size, p)
	n, err := io.Copy(io.MultiWriter(dst, h), cr)
	if err != nil {
		return fmt.Errorf("copy the download: %w", err)
	}
	if n != size {
		return fmt.Errorf("the download changed while it was copied (%d bytes, then %d): pull again", size, n)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha256hex {
		return fmt.Errorf("%w: the download's SHA-256 is %s, not %s: pull again", ErrBadImage, got, sha256hex)
	}
	cr.Finish()
	return nil
}

// recordOrigin writes image's origin, tied to the file tmp that is about
// to be linked as the image.
func (s *Store) recordOrigin(image string, tmp *os.File, o Origin) error {
	fi, err := tmp.Stat()
	if err != nil {
		return err
	}
	o.Size = fi.Size()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		o.Ino = st.Ino
	}
	s.originMu.Lock()
	defer s.originMu.Unlock()
	all := s.readOrigins()
	all[image] = o
	for name := range all {
		if _, err := os.Lstat(s.ImagePath(name)); errors.Is(err, fs.ErrNotExist) && name != image {
			delete(all, name) // the image was removed by hand
		}
	}
	data, err := json.Marshal(all)
	if err != nil {
		return err
	}
	if err := s.writeAtomic(originsF, data); err != nil {
		return fmt.Errorf("record the origin of image %s: %w", image, err)
	}
	return nil
}

// Origin returns where image came from, if it was pulled (or pushed) and
// the file in images/ is still the one recorded.
func (s *Store) Origin(image string) (Origin, bool) {
	s.originMu.Lock()
	o, ok := s.readOrigins()[image]
	s.originMu.Unlock()
	if !ok {
		return Origin{}, false
	}
	fi, err := os.Stat(s.ImagePath(image))
	if err != nil || !o.matches(fi) {
		return Origin{}, false
	}
	return o, true
}

// matches reports whether the record is of the file fi.
func (o Origin) matches(fi fs.FileInfo) bool {
	st, _ := fi.Sys().(*syscall.Stat_t)
	return st != nil && st.Ino == o.Ino && fi.Size() == o.Size
}

// readOrigins reads originsF; a missing or unreadable file is no origins
// (they are a label, never needed to use an image).
func (s *Store) readOrigins() map[string]Origin {
	all := map[string]Origin{}
	data, err := os.ReadFile(s.path(originsF))
	if err == nil {
		json.Unmarshal(data, &all)
	}
	return all
}

// Export writes image into w: a file as it is, an OCI image layout
// directory as an uncompressed tar of it (which is how a layout travels
// and what package archive reads back). It returns the bytes written and
// their SHA-256 in hex.
func (s *Store) Export(ctx context.Context, image string, w io.Writer) (int64, string, error) {
	if err := ValidImageName(image); err != nil {
		return 0, "", err
	}
	f, err := os.Open(s.ImagePath(image))
	if err != nil {
		return 0, "", fmt.Errorf("image %q %w: see initns ls image", image, ErrNotExist)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, h)}
	switch {
	case fi.Mode().IsRegular():
		_, err = io.Copy(cw, archive.NewCountingReader(ctx, f, fi.Size(), nil))
	case archive.IsLayoutDir(s.ImagePath(image), fi):
		err = archive.WriteTar(ctx, s.ImagePath(image), cw, archive.FileID{}, nil)
	default:
		err = fmt.Errorf("image %s is neither a file nor an OCI image layout", image)
	}
	if err != nil {
		return 0, "", fmt.Errorf("export image %s: %w", image, err)
	}
	return cw.n, hex.EncodeToString(h.Sum(nil)), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
