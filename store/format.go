package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"initns/store/internal/ahead"
	"initns/store/internal/gz"
	"initns/store/internal/xz"
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

// decompressor wraps r (buffered, not yet read) in the reader its magic bytes
// call for. The returned closer releases decoder goroutines.
func decompressor(br *bufio.Reader) (io.Reader, func(), error) {
	head, _ := br.Peek(512)
	format, err := detectFormat(head)
	if err != nil {
		return nil, nil, err
	}
	switch format {
	case formatGzip:
		// Decompressed ahead of the tar parser by store/internal/gz, which
		// inflates about 1.7x as fast as pgzip's (klauspost/compress)
		// inflater: a single gzip member cannot be decoded in parallel.
		zr, err := gz.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: gzip: %v", ErrBadImage, err)
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
			return nil, nil, fmt.Errorf("%w: zstd: %v", ErrBadImage, err)
		}
		ar := ahead.New(4, 1<<20, ahead.Fill(limitErrors{zr}))
		return ar, func() { ar.Close(); zr.Close() }, nil
	case formatXz:
		// store/internal/xz checks the dictionary of every block of every
		// stream before the LZMA2 decoder allocates it.
		xr, err := xz.NewReader(br, xzMaxDict)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadImage, err)
		}
		ar := ahead.New(4, 1<<20, ahead.Fill(limitErrors{xr}))
		return ar, func() { ar.Close() }, nil
	}
	return br, func() {}, nil
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
		err = fmt.Errorf("%w: %v: recompress with xz -9 or less", ErrBadImage, err)
	case errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		// Checked in every frame's header, before its window is allocated.
		err = fmt.Errorf("%w: zstd window exceeds the %d MiB limit: recompress with --long=27 or less (%v)",
			ErrBadImage, zstdMaxWindow>>20, err)
	}
	return n, err
}

// formatForName picks the compression of a new image from its name.
func formatForName(name string) (string, error) {
	switch {
	case strings.HasSuffix(name, ".tar"):
		return formatTar, nil
	case strings.HasSuffix(name, ".tar.gz"), strings.HasSuffix(name, ".tgz"):
		return formatGzip, nil
	case strings.HasSuffix(name, ".tar.zst"):
		return formatZstd, nil
	}
	return "", fmt.Errorf("image name %q: %w: end it in .tar, .tar.gz, .tgz or .tar.zst to choose the format", name, ErrInvalidName)
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
