package archive

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"initns/archive/internal/ahead"
	"initns/archive/internal/gz"
	"initns/archive/internal/xz"
)

// Compression formats, recognised by magic bytes when reading and by the
// image name's suffix when writing.
const (
	formatTar  = "tar"
	formatGzip = "gzip"
	formatZstd = "zstd"
	formatXz   = "xz"
)

var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicBzip2 = []byte("BZh")
)

const (
	// zstdMaxWindow bounds the decoder's memory: 128 MiB is what the zstd
	// tool itself accepts without --long=N (windowLog 27).
	zstdMaxWindow = 128 << 20
	// xzMaxDict bounds the LZMA2 dictionary (xz -9 uses 64 MiB).
	xzMaxDict = 128 << 20
)

// detectFormat names the format of the stream starting with head.
func detectFormat(head []byte) (string, error) {
	switch {
	case len(head) == 0:
		return "", fmt.Errorf("%w: the image is empty", ErrBadImage)
	case bytes.HasPrefix(head, magicGzip):
		return formatGzip, nil
	case bytes.HasPrefix(head, magicZstd):
		return formatZstd, nil
	case bytes.HasPrefix(head, magicXz):
		return formatXz, nil
	case bytes.HasPrefix(head, magicBzip2):
		return "", fmt.Errorf("%w: bzip2 images are not supported: recompress it with gzip, zstd or xz", ErrBadImage)
	case looksLikeTar(head):
		return formatTar, nil
	}
	return "", fmt.Errorf("%w: not a tar archive, nor gzip, zstd or xz compressed", ErrBadImage)
}

// looksLikeTar checks the first header block's checksum, which every tar
// format (v7, ustar, GNU, PAX) carries.
func looksLikeTar(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	var sum, ssum int64
	for i, c := range b[:512] {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
		ssum += int64(int8(c))
	}
	field := strings.Trim(string(b[148:156]), " \x00")
	var want int64
	if _, err := fmt.Sscanf(field, "%o", &want); err != nil {
		return false
	}
	return want == sum || want == ssum
}

// GzipEnv names the environment variable that chooses the gzip decoder of
// extraction: "klauspost" reads gzip images with klauspost/compress/gzip
// instead of archive/internal/gz, so that a decoder bug seen in the field
// is confirmed (or ruled out) by one more extraction with the variable set
// in the daemon's environment. Any other value, or none, is the project's
// own decoder.
const GzipEnv = "INITNS_GZIP"

// Decompress returns the uncompressed stream of the image data r (plain
// tar, gzip, zstd or xz, recognised by magic bytes), checking that it is
// one of them. The returned function releases decoder goroutines.
func Decompress(r io.Reader) (io.Reader, func(), error) {
	return decompressor(bufio.NewReaderSize(r, 1<<20))
}

// decompressor wraps r (buffered, not yet read) in the reader its magic bytes
// call for. The returned closer releases decoder goroutines.
func decompressor(br *bufio.Reader) (io.Reader, func(), error) {
	head, err := br.Peek(512)
	if len(head) == 0 && err != nil && err != io.EOF {
		return nil, nil, BadImage("read", err)
	}
	format, err := detectFormat(head)
	if err != nil {
		return nil, nil, err
	}
	switch format {
	case formatGzip:
		if os.Getenv(GzipEnv) == "klauspost" {
			// The same place in the pipeline as the project's decoder:
			// one goroutine ahead of the tar parser.
			zr, err := kgzip.NewReader(br)
			if err != nil {
				return nil, nil, BadImage("gzip (klauspost)", err)
			}
			ar := ahead.New(4, 1<<20, ahead.Fill(zr))
			return ar, func() { ar.Close(); zr.Close() }, nil
		}
		// Decompressed ahead of the tar parser by archive/internal/gz,
		// which inflates about 1.7x as fast as pgzip's (klauspost/compress)
		// inflater: a single gzip member cannot be decoded in parallel.
		zr, err := gz.NewReader(br)
		if err != nil {
			return nil, nil, BadImage("gzip", err)
		}
		return zr, func() { zr.Close() }, nil
	case formatZstd:
		// One decoding goroutine (concurrency 1) ahead of the tar parser,
		// handing over 1 MiB at a time: the decoder's own read-ahead
		// (concurrency > 1) hands over every block and costs more than it
		// saves beside the writers on two cores.
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderMaxMemory(zstdMaxWindow), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, BadImage("zstd", err)
		}
		ar := ahead.New(4, 1<<20, ahead.Fill(limitErrors{zr}))
		return ar, func() { ar.Close(); zr.Close() }, nil
	case formatXz:
		// archive/internal/xz checks the dictionary of every block of
		// every stream before the LZMA2 decoder allocates it.
		xr, err := xz.NewReader(br, xzMaxDict)
		if err != nil {
			return nil, nil, BadImage("xz", err)
		}
		ar := ahead.New(4, 1<<20, ahead.Fill(limitErrors{xr}))
		return ar, func() { ar.Close() }, nil
	}
	return br, func() {}, nil
}

// NewXZReader returns the decompressed stream of the xz data r, for what
// is not an image (kernel modules): the decoder of xz images, which refuses
// (a *xz.DictError) any block whose dictionary exceeds 128 MiB.
func NewXZReader(r io.Reader) (io.Reader, error) {
	return xz.NewReader(r, xzMaxDict)
}

// limitErrors turns a decoder's refusal to exceed its memory limit into
// an ErrBadImage that names the limit and what to do.
type limitErrors struct{ r io.Reader }

func (l limitErrors) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	var dict *xz.DictError
	switch {
	case err == nil || err == io.EOF:
	case errors.As(err, &dict):
		err = fmt.Errorf("%w: %w: recompress with xz -9 or less", ErrBadImage, err)
	case errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		// Checked in every frame's header, before its window is allocated.
		err = fmt.Errorf("%w: zstd window exceeds the %d MiB limit: recompress with --long=27 or less (%w)",
			ErrBadImage, zstdMaxWindow>>20, err)
	}
	return n, err
}

// FormatOf picks the compression of a new image from its name: .tar,
// .tar.gz or .tgz, .tar.zst; ok is false for any other name.
func FormatOf(name string) (format string, ok bool) {
	switch {
	case strings.HasSuffix(name, ".tar"):
		return formatTar, true
	case strings.HasSuffix(name, ".tar.gz"), strings.HasSuffix(name, ".tgz"):
		return formatGzip, true
	case strings.HasSuffix(name, ".tar.zst"):
		return formatZstd, true
	}
	return "", false
}

var errUnknownFormat = errors.New("unknown format")

// compressor wraps w in the writer for format; Close flushes it (not w).
func compressor(w io.Writer, format string) (io.WriteCloser, error) {
	switch format {
	case formatTar:
		return nopCloser{w}, nil
	case formatGzip:
		zw := pgzip.NewWriter(w)
		if err := zw.SetConcurrency(1<<20, 2*runtime.GOMAXPROCS(0)); err != nil {
			return nil, err
		}
		return zw, nil
	case formatZstd:
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
	}
	return nil, errUnknownFormat
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
