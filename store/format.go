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
	"github.com/ulikunitz/xz"

	"initns/store/internal/ahead"
	"initns/store/internal/gz"
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
		ar := ahead.New(4, 1<<20, ahead.Fill(zr))
		return ar, func() { ar.Close(); zr.Close() }, nil
	case formatXz:
		if err := checkXzDict(head); err != nil {
			return nil, nil, err
		}
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: xz: %v", ErrBadImage, err)
		}
		ar := ahead.New(4, 1<<20, ahead.Fill(xr))
		return ar, func() { ar.Close() }, nil
	}
	return br, func() {}, nil
}

// checkXzDict refuses an xz stream whose first block asks for a dictionary
// larger than xzMaxDict: the decoder would allocate it whole.
func checkXzDict(head []byte) error {
	// Stream header (12 bytes), then the block header: size, flags,
	// optional sizes (varints), filter id 0x21 (LZMA2), props size 1, props.
	if len(head) < 14 || head[12] == 0 {
		return nil // no block at all: the decoder reports what is wrong
	}
	p, flags := 14, head[13]
	for _, present := range []bool{flags&0x40 != 0, flags&0x80 != 0} {
		if present {
			for p < len(head) && head[p]&0x80 != 0 {
				p++
			}
			p++
		}
	}
	if p+2 >= len(head) || head[p] != 0x21 || head[p+1] != 1 {
		return nil
	}
	bits := head[p+2]
	if bits > 40 {
		return fmt.Errorf("%w: xz: invalid dictionary size", ErrBadImage)
	}
	size := uint64(2|bits&1) << (bits/2 + 11)
	if size > xzMaxDict {
		return fmt.Errorf("%w: xz dictionary of %d MiB exceeds the %d MiB limit: recompress with xz -9 or less",
			ErrBadImage, size>>20, xzMaxDict>>20)
	}
	return nil
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
