package archive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// corruptGzip is a .tar.gz whose first DEFLATE block has the reserved
// block type (BTYPE 11), which the decoder refuses with a CorruptError.
func corruptGzip(t *testing.T) []byte {
	g := gzipBytes(makeTar(t, file("etc/hostname", "box")))
	g[10] |= 0x06 // after the 10-byte member header: BFINAL, then BTYPE
	return g
}

// gzipTestImage has enough content for several of the decoders' 1 MiB
// hand-overs: random data (stored blocks), text (Huffman and matches),
// links and directories.
func gzipTestImage(t *testing.T) []byte {
	rnd := make([]byte, 3<<20+12345)
	rand.New(rand.NewSource(1)).Read(rnd)
	// Every directory listed, the root too: one the image does not list
	// gets the time of the extraction.
	es := []entry{dir("./"), dir("usr/"), dir("usr/share/"), dir("usr/share/doc/"), dir("etc/"), file("etc/random", string(rnd)), symlink("etc/link", "random"), hardlink("etc/hard", "etc/random")}
	for i := range 200 {
		es = append(es, file("usr/share/doc/f"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26)),
			strings.Repeat("line of text, number "+string(rune('0'+i%10))+"\n", i*13)))
	}
	return gzipBytes(makeTar(t, es...))
}

// TestGzipDecoders: INITNS_GZIP=klauspost switches extraction to
// klauspost/compress's gzip reader, and both decoders extract the same
// image into the same tree. The switch is seen to take effect: only the
// project's decoder reports a CorruptError.
func TestGzipDecoders(t *testing.T) {
	img := gzipTestImage(t)
	trees := map[string]string{}
	for _, dec := range []string{"", "klauspost"} {
		t.Setenv(GzipEnv, dec)
		dst := filepath.Join(t.TempDir(), "root")
		res, err := Extract(context.Background(), bytes.NewReader(img), dst, nil)
		if err != nil {
			t.Fatalf("%s=%q: %v", GzipEnv, dec, err)
		}
		if res.Entries != 208 {
			t.Errorf("%s=%q: %d entries, want 208", GzipEnv, dec, res.Entries)
		}
		trees[dec] = describe(t, dst)

		_, err = Extract(context.Background(), bytes.NewReader(corruptGzip(t)), filepath.Join(t.TempDir(), "bad"), nil)
		var ce *CorruptError
		if !errors.Is(err, ErrBadImage) || errors.As(err, &ce) != (dec == "") {
			t.Errorf("%s=%q, corrupt gzip: %v (CorruptError found: %v)", GzipEnv, dec, err, errors.As(err, &ce))
		}
	}
	if trees[""] != trees["klauspost"] {
		t.Errorf("the decoders made different trees:\n%s", diffLines(trees[""], trees["klauspost"]))
	}
}

// failingReader yields the first n bytes of data, then err.
type failingReader struct {
	data []byte
	n    int
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, r.err
	}
	k := copy(p, r.data[:min(r.n, len(r.data), len(p))])
	r.data, r.n = r.data[k:], r.n-k
	return k, nil
}

// TestDiskErrorsAreNotBadImage: an error of the disk while the image is
// read (EIO, ENOSPC), at the start or midway, plain or gzip, is reported
// with its cause and without ErrBadImage; a decoding error keeps both.
func TestDiskErrorsAreNotBadImage(t *testing.T) {
	plain := makeTar(t, file("a", strings.Repeat("a", 1<<20)), file("b", strings.Repeat("b", 1<<20)))
	gz := gzipBytes(plain)
	for _, errno := range []unix.Errno{unix.EIO, unix.ENOSPC} {
		for name, r := range map[string]io.Reader{
			"start":       &failingReader{data: plain, n: 0, err: errno},
			"plain-mid":   &failingReader{data: plain, n: len(plain) / 2, err: errno},
			"gzip-header": &failingReader{data: gz, n: 5, err: errno},
			"gzip-mid":    &failingReader{data: gz, n: len(gz) / 2, err: errno},
		} {
			_, err := Extract(context.Background(), r, filepath.Join(t.TempDir(), "x"), nil)
			if !errors.Is(err, errno) || errors.Is(err, ErrBadImage) {
				t.Errorf("%s, %v: %v; want %v and not ErrBadImage", name, errno, err, errno)
			}
		}
	}
	_, err := Extract(context.Background(), bytes.NewReader(corruptGzip(t)), filepath.Join(t.TempDir(), "x"), nil)
	var ce *CorruptError
	if !errors.Is(err, ErrBadImage) || !errors.As(err, &ce) {
		t.Errorf("corrupt gzip: %v; want ErrBadImage and a CorruptError", err)
	}
}
