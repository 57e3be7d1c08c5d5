// Package ahead owns the read-ahead of the store's decompressors: a
// producer (an inflater, a zstd decoder) runs in a goroutine of its own and
// fills a few large buffers while the reader (the tar parser) drains them,
// so that decompression and parsing run on different cores and a buffer
// changes hands once per megabyte rather than once per Read.
package ahead

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrClosed is returned by Read after Close, and by send to a producer
// whose Reader was closed.
var ErrClosed = errors.New("reader closed")

// Send hands over data (a part of full) to the reader and returns an empty
// buffer to go on with: full itself when data is empty, else one the reader
// has finished with. full belongs to the reader from then on (it may still
// be read, never written). It returns ErrClosed once the Reader is closed.
type Send func(full, data []byte) ([]byte, error)

// Reader reads what a producer made.
type Reader struct {
	full chan block
	free chan []byte
	done chan struct{} // closed by Close
	gone chan struct{} // closed when the producer has returned
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

// New runs produce in a goroutine with n buffers of size bytes: the first
// as its argument, the others through send. What produce returns (io.EOF
// at the end of the data) is what Read returns after the data sent. A
// panic in produce is returned as an error: a decoder's bug must not take
// the daemon down.
func New(n, size int, produce func(buf []byte, send Send) error) *Reader {
	z := &Reader{full: make(chan block, n), free: make(chan []byte, n), done: make(chan struct{}),
		gone: make(chan struct{})}
	for range n - 1 {
		z.free <- make([]byte, size)
	}
	go z.run(make([]byte, size), produce)
	return z
}

func (z *Reader) run(buf []byte, produce func([]byte, Send) error) {
	defer close(z.gone)
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("decoder failed: %v", p)
			}
		}()
		return produce(buf, z.send)
	}()
	if err == ErrClosed {
		return
	}
	if err == nil {
		err = io.EOF
	}
	select {
	case z.full <- block{err: err}:
	case <-z.done:
	}
}

func (z *Reader) send(full, data []byte) ([]byte, error) {
	if len(data) == 0 {
		return full, nil
	}
	var next []byte
	select {
	case next = <-z.free:
	case <-z.done:
		return nil, ErrClosed
	}
	select {
	case z.full <- block{buf: full, data: data}:
	case <-z.done:
		return nil, ErrClosed
	}
	return next, nil
}

// Read reads what the producer made, then returns its error.
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

// Close stops the producer and waits for it to return, so that nothing
// reads its input once Close has returned.
func (z *Reader) Close() error {
	z.once.Do(func() { close(z.done) })
	<-z.gone
	z.cur, z.err = nil, ErrClosed
	return nil
}

// Fill is a producer that copies r: for decoders that have no buffers of
// their own to hand over.
func Fill(r io.Reader) func([]byte, Send) error {
	return func(buf []byte, send Send) error {
		for {
			n, err := 0, error(nil)
			for n < len(buf) && err == nil {
				var m int
				m, err = r.Read(buf[n:])
				n += m
			}
			if n > 0 {
				var serr error
				if buf, serr = send(buf, buf[:n]); serr != nil {
					return serr
				}
			}
			if err != nil {
				return err
			}
		}
	}
}
