// Package gz owns the store's gzip decoder: it reads gzip streams (RFC 1952
// members of RFC 1951 DEFLATE data, concatenated members included) and
// decodes them in a goroutine of their own, ahead of the reader, into a few
// large buffers (archive/internal/ahead).
//
// It exists for speed. Extracting a .tar.gz image waits on inflation, which
// cannot be split across cores for an ordinary (single-member) gzip file, and
// the inflaters of compress/flate and klauspost/compress run at zlib's speed.
// This one decodes the way libdeflate does: a 64-bit bit buffer refilled
// eight bytes at a time without branches, table entries that carry a whole
// length or distance (base, extra bits and code length) so a match decodes
// in two lookups, and matches copied a word at a time into a flat output
// buffer with slack at its end. It checks what zlib checks (code
// completeness, distances, stored lengths, the CRC-32 and size of every
// member) and its differential fuzz target holds it to compress/flate's
// output and errors.
package gz

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"initns/archive/internal/ahead"
)

const (
	bufSize = 1 << 20 // output handed over at a time, history included
	buffers = 4
)

var (
	// ErrHeader is returned for data that is not a gzip member.
	ErrHeader = errors.New("gzip: invalid header")
	// ErrChecksum is returned when a member's CRC-32 or size is wrong.
	ErrChecksum = errors.New("gzip: checksum error")
	// ErrClosed is returned by Read after Close.
	ErrClosed = ahead.ErrClosed
)

// Reader decompresses a gzip stream; Close stops its decoder.
type Reader = ahead.Reader

// NewReader reads the first member header from r and starts decoding in a
// goroutine. The caller must Close the Reader, which waits for the decoder
// to stop reading r. Read's error after the last byte is io.EOF, or what
// was wrong with the stream.
func NewReader(r io.Reader) (*Reader, error) {
	f := &inflater{r: r, in: make([]byte, 0, inSize), bufSize: bufSize}
	if err := f.header(); err != nil {
		return nil, err
	}
	return ahead.New(buffers, bufSize+outSlack, func(buf []byte, send ahead.Send) error {
		f.out, f.next = buf, send
		err := members(f)
		if err == ErrClosed {
			return err
		}
		if _, serr := send(f.out, f.out[f.start:f.op]); serr != nil {
			return serr
		}
		return err
	}), nil
}

// members decodes members until the input ends.
func members(f *inflater) error {
	for {
		if err := f.member(); err != nil {
			return err
		}
		if err := f.trailer(); err != nil {
			return err
		}
		if !f.atEOF() && f.in[f.ip] != 0 {
			if err := f.header(); err != nil {
				return err
			}
			continue
		}
		// Zero bytes after a member are padding, as GNU gzip takes them
		// ("trailing zero bytes ignored"): some tools pad an archive to a
		// block size. Anything after them, even a member, is junk, as
		// gzip -d warns ("trailing garbage ignored").
		if !f.zerosToEOF() {
			return ErrHeader
		}
		if f.rerr != nil {
			return f.rerr
		}
		return io.EOF
	}
}

// zerosToEOF consumes zero bytes up to the end of the input; false at the
// first other byte.
func (f *inflater) zerosToEOF() bool {
	for !f.atEOF() {
		if f.in[f.ip] != 0 {
			return false
		}
		f.ip++
	}
	return true
}

// header reads a member header (RFC 1952 2.3).
func (f *inflater) header() error {
	var sum uint32
	next := func() (byte, error) {
		b, err := f.byte()
		sum = crc32.Update(sum, crc32.IEEETable, []byte{b})
		return b, err
	}
	var h [10]byte
	for i := range h {
		b, err := next()
		if err != nil {
			if i == 0 && err == io.ErrUnexpectedEOF {
				return ErrHeader
			}
			return err
		}
		h[i] = b
		if i < 2 && b != "\x1f\x8b"[i] {
			return ErrHeader // checked early: junk after a member is not truncation
		}
	}
	if h[2] != 8 {
		return fmt.Errorf("gzip: unknown compression method %d", h[2])
	}
	flags := h[3]
	if flags&0xe0 != 0 {
		return fmt.Errorf("gzip: reserved header flags 0x%02x set", flags&0xe0)
	}
	if flags&0x04 != 0 { // FEXTRA
		lo, err := next()
		if err != nil {
			return err
		}
		hi, err := next()
		if err != nil {
			return err
		}
		for range int(lo) | int(hi)<<8 {
			if _, err := next(); err != nil {
				return err
			}
		}
	}
	for _, flag := range []byte{0x08, 0x10} { // FNAME, FCOMMENT: zero-terminated
		if flags&flag == 0 {
			continue
		}
		for {
			b, err := next()
			if err != nil {
				return err
			}
			if b == 0 {
				break
			}
		}
	}
	if flags&0x02 != 0 { // FHCRC
		want := uint16(sum)
		var c [2]byte
		if err := f.read(c[:]); err != nil {
			return err
		}
		if binary.LittleEndian.Uint16(c[:]) != want {
			return errors.New("gzip: header checksum error")
		}
	}
	return nil
}

// trailer checks a member's CRC-32 and size.
func (f *inflater) trailer() error {
	var t [8]byte
	if err := f.readAligned(t[:]); err != nil {
		return err
	}
	if binary.LittleEndian.Uint32(t[0:]) != f.crc || binary.LittleEndian.Uint32(t[4:]) != f.size {
		return ErrChecksum
	}
	return nil
}
