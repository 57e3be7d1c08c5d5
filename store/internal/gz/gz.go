// Package gz owns the store's gzip decoder: it reads gzip streams (RFC 1952
// members of RFC 1951 DEFLATE data, concatenated members included) and
// decodes them in a goroutine of their own, ahead of the reader, into a few
// large buffers.
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
	"sync"
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
	ErrClosed = errors.New("gzip: reader closed")
)

// Reader decompresses a gzip stream.
type Reader struct {
	full chan block
	free chan []byte
	done chan struct{} // closed by Close
	gone chan struct{} // closed when the decoder has returned
	once sync.Once

	cur []byte // data not yet read
	buf []byte // the buffer cur is in, to give back
	err error  // returned once cur is read
}

type block struct {
	buf  []byte
	data []byte
	err  error
}

// NewReader reads the first member header from r and starts decoding. The
// caller must Close the Reader to stop the decoder if it does not read to
// the end.
func NewReader(r io.Reader) (*Reader, error) {
	f := &inflater{r: r, in: make([]byte, 0, inSize), bufSize: bufSize}
	if err := f.header(); err != nil {
		return nil, err
	}
	z := &Reader{full: make(chan block, buffers), free: make(chan []byte, buffers), done: make(chan struct{}),
		gone: make(chan struct{})}
	for range buffers - 1 {
		z.free <- make([]byte, bufSize+outSlack)
	}
	f.out = make([]byte, bufSize+outSlack)
	f.next = z.handOver
	go z.decode(f)
	return z, nil
}

// Read reads decompressed data. Its error after the last byte is io.EOF,
// or what was wrong with the stream.
func (z *Reader) Read(p []byte) (int, error) {
	for len(z.cur) == 0 {
		if z.err != nil {
			return 0, z.err
		}
		if z.buf != nil {
			z.free <- z.buf
			z.buf = nil
		}
		b := <-z.full
		z.cur, z.buf, z.err = b.data, b.buf, b.err
	}
	n := copy(p, z.cur)
	z.cur = z.cur[n:]
	return n, nil
}

// Close stops the decoder and waits for it, so that the underlying reader
// is not read once Close returns. It does not close that reader.
func (z *Reader) Close() error {
	z.once.Do(func() { close(z.done) })
	<-z.gone
	z.cur, z.err = nil, ErrClosed
	return nil
}

// handOver passes full's data to the reader and returns a buffer to go on
// in: a free one, or full itself when it held nothing new.
func (z *Reader) handOver(full, data []byte) ([]byte, error) {
	if len(data) == 0 {
		return full, nil
	}
	var nb []byte
	select {
	case nb = <-z.free:
	case <-z.done:
		return nil, ErrClosed
	}
	select {
	case z.full <- block{buf: full, data: data}:
	case <-z.done:
		return nil, ErrClosed
	}
	return nb, nil
}

// decode runs in its own goroutine until the stream ends, fails, or the
// Reader is closed.
func (z *Reader) decode(f *inflater) {
	defer close(z.gone)
	err := members(f)
	if err == ErrClosed {
		return
	}
	select {
	case z.full <- block{buf: f.out, data: f.out[f.start:f.op], err: err}:
	case <-z.done:
	}
}

// members decodes members until the input ends. A panic is a bug, but the
// decoder runs inside the daemon: it becomes an error.
func members(f *inflater) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("gzip: decoder failed at byte %d: %v", f.offset(), p)
		}
	}()
	for {
		if err := f.member(); err != nil {
			return err
		}
		if err := f.trailer(); err != nil {
			return err
		}
		if f.atEOF() {
			if f.rerr != nil {
				return f.rerr
			}
			return io.EOF
		}
		if err := f.header(); err != nil {
			return err
		}
	}
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
			return fmt.Errorf("gzip: header checksum error")
		}
	}
	return nil
}

// trailer checks a member's CRC-32 and size.
func (f *inflater) trailer() error {
	if err := f.align(); err != nil {
		return err
	}
	var t [8]byte
	if err := f.read(t[:]); err != nil {
		return err
	}
	if binary.LittleEndian.Uint32(t[0:]) != f.crc || binary.LittleEndian.Uint32(t[4:]) != f.size {
		return ErrChecksum
	}
	return nil
}
