// Package xz decodes xz files (several streams, stream padding, any number
// of blocks) with a bound on the LZMA2 dictionary of every block.
//
// The container (stream headers, block headers, checks, index, footers) is
// parsed here, and each block's LZMA2 data goes to
// github.com/ulikunitz/xz/lzma. That package's own xz reader cannot be
// bounded: it takes ReaderConfig.DictCap as a minimum and allocates
// whatever dictionary a block header asks for, in every block of every
// stream (4 GiB from a 208-byte file, issue 12). Nor can a pre-scan of the
// bytes on their way to it be trusted: its LZMA2 reader does not check that
// a chunk's packed bytes are all used, so where it looks for the next block
// header can differ from where a scanner following the format would. Here
// the code that reads a block header is the code that checks it.
package xz

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"sync"
)

// DictError reports a block whose LZMA2 dictionary exceeds the limit: the
// decoder would allocate it whole before decoding a byte.
type DictError struct {
	Size, Limit int64
}

func (e *DictError) Error() string {
	mib := func(n int64) int64 { return (n + 1<<20 - 1) >> 20 }
	return fmt.Sprintf("xz dictionary of %d MiB exceeds the %d MiB limit", mib(e.Size), mib(e.Limit))
}

var (
	magic       = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	footerMagic = []byte{'Y', 'Z'}
)

// crc64Table is made on first use, not when the client starts.
var crc64Table = sync.OnceValue(func() *crc64.Table { return crc64.MakeTable(crc64.ECMA) })

func errorf(format string, args ...any) error {
	return fmt.Errorf("xz: "+format, args...)
}

// Reader decompresses an xz file.
type Reader struct {
	r       *bufio.Reader
	maxDict int64
	err     error // sticky; io.EOF at the clean end

	flags byte // check type of the current stream
	index index

	// The block being read, lz nil between blocks.
	lz     io.Reader
	in     counter
	out    int64
	check  hash.Hash
	header blockHeader
}

// NewReader reads the first stream header of r and returns a Reader that
// refuses, with a *DictError, any block whose dictionary exceeds maxDict.
// r is read exactly as far as the decoder needs when it is a
// *bufio.Reader, else through a bufio.Reader of its own.
func NewReader(r io.Reader, maxDict int64) (*Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	z := &Reader{r: br, maxDict: maxDict}
	z.in.r = br
	if err := z.streamHeader(true); err != nil {
		return nil, err
	}
	return z, nil
}

// Read decompresses into p.
func (z *Reader) Read(p []byte) (int, error) {
	for z.err == nil {
		if z.lz == nil {
			z.err = z.next()
			continue
		}
		n, err := z.lz.Read(p)
		z.out += int64(n)
		z.check.Write(p[:n])
		if err == io.EOF {
			z.lz = nil
			z.err = z.endBlock()
		} else if err != nil {
			z.err = errorf("%w", err)
		}
		if n > 0 || len(p) == 0 {
			return n, nil
		}
	}
	return 0, z.err
}

// next reads on to the next block: past an index and footer, stream
// padding and the next stream's header if need be. io.EOF at the end.
func (z *Reader) next() error {
	for {
		size, err := z.r.ReadByte()
		if err != nil {
			return unexpected(err)
		}
		if size != 0 {
			return z.startBlock(size)
		}
		if err := z.readIndex(); err != nil {
			return err
		}
		if err := z.streamHeader(false); err != nil {
			return err
		}
	}
}

// streamHeader reads a stream header, after stream padding (zero bytes, a
// multiple of four) unless first. io.EOF at a clean end of the file.
func (z *Reader) streamHeader(first bool) error {
	var h [12]byte
	for {
		if _, err := io.ReadFull(z.r, h[:4]); err != nil {
			if err == io.EOF && !first {
				return io.EOF
			}
			return unexpected(err)
		}
		if first || !bytes.Equal(h[:4], []byte{0, 0, 0, 0}) {
			break
		}
	}
	if _, err := io.ReadFull(z.r, h[4:]); err != nil {
		return unexpected(err)
	}
	if !bytes.Equal(h[:6], magic) {
		return errorf("not an xz stream header")
	}
	if crc32.ChecksumIEEE(h[6:8]) != binary.LittleEndian.Uint32(h[8:]) {
		return errorf("stream header checksum mismatch")
	}
	if h[6] != 0 || h[7]&0xf0 != 0 {
		return errorf("unsupported stream flags %#x %#x", h[6], h[7])
	}
	if _, err := newCheck(h[7]); err != nil {
		return err
	}
	z.flags = h[7]
	z.index = index{hash: crc32.NewIEEE()}
	return nil
}

// newCheck returns the hash of the check type in a stream's flags.
func newCheck(flags byte) (hash.Hash, error) {
	switch flags {
	case 0x00:
		return nopHash{}, nil
	case 0x01:
		return crc32.NewIEEE(), nil
	case 0x04:
		return crc64.New(crc64Table()), nil
	case 0x0a:
		return sha256.New(), nil
	}
	return nil, errorf("unsupported check type %#x", flags)
}

// checkSum is h's sum as xz stores it: CRC32 and CRC64 little-endian.
func checkSum(h hash.Hash) []byte {
	switch h := h.(type) {
	case hash.Hash32:
		return binary.LittleEndian.AppendUint32(nil, h.Sum32())
	case hash.Hash64:
		return binary.LittleEndian.AppendUint64(nil, h.Sum64())
	}
	return h.Sum(nil)
}

type nopHash struct{}

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }
func (nopHash) Sum(b []byte) []byte         { return b }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return 0 }
func (nopHash) BlockSize() int              { return 1 }

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// counter counts the compressed bytes of a block.
type counter struct {
	r *bufio.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *counter) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}
