package store

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// File contents are written by a few goroutines while the tar parser goes
// on, so decompression, parsing and the write/chown/chmod/utimes system
// calls of many small files overlap. A file of up to smallFile bytes is
// read into a pooled buffer and queued; a larger one is streamed by the
// parser itself. Memory in flight is bounded by (queue+writers)*smallFile.
const (
	smallFile  = 256 << 10
	queueLen   = 64
	chunkSize  = 1 << 20
	sparseUnit = 4096
)

type fileJob struct {
	fd     int
	name   string
	size   int64
	sparse bool
	attrs  attrs
	data   []byte
}

type writers struct {
	jobs chan fileJob
	wg   sync.WaitGroup
	once sync.Once
	mu   sync.Mutex
	err  error
}

func newWriters() *writers {
	w := &writers{jobs: make(chan fileJob, queueLen)}
	n := max(2, runtime.GOMAXPROCS(0))
	w.wg.Add(n)
	for range n {
		go w.loop()
	}
	return w
}

func (w *writers) loop() {
	defer w.wg.Done()
	for j := range w.jobs {
		if w.failed() == nil {
			w.setErr(j.finish(j.data))
		}
		unix.Close(j.fd)
		putBuf(j.data)
	}
}

// write queues a small file, or streams a large one from r right away.
// It always takes ownership of j.fd.
func (w *writers) write(ctx context.Context, j fileJob, r io.Reader) error {
	if j.size <= smallFile {
		j.data = getBuf(int(j.size))
		if _, err := io.ReadFull(r, j.data); err != nil {
			unix.Close(j.fd)
			putBuf(j.data)
			return &entryError{j.name, &readErr{noEOF(err)}}
		}
		select {
		case w.jobs <- j:
			return nil
		case <-ctx.Done():
			unix.Close(j.fd)
			return ctx.Err()
		}
	}
	defer unix.Close(j.fd)
	if err := j.stream(r); err != nil {
		return err
	}
	return j.finish(nil)
}

// stream copies a large file's content in chunks.
func (j *fileJob) stream(r io.Reader) error {
	buf := getBuf(chunkSize)
	defer putBuf(buf)
	var off int64
	for off < j.size {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), j.size-off)])
		if err != nil {
			return &entryError{j.name, &readErr{noEOF(err)}}
		}
		if err := j.writeAt(buf[:n], off); err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}

// finish writes data (if any), truncates a sparse file to its size and sets
// the metadata.
func (j *fileJob) finish(data []byte) error {
	if len(data) > 0 {
		if err := j.writeAt(data, 0); err != nil {
			return err
		}
	}
	if j.sparse {
		// The holes at the end were skipped, not written.
		if err := unix.Ftruncate(j.fd, j.size); err != nil {
			return &entryError{j.name, fmt.Errorf("truncate: %w", err)}
		}
	}
	if err := j.attrs.applyFd(j.fd); err != nil {
		return &entryError{j.name, err}
	}
	return nil
}

// writeAt writes b at offset off; in a sparse file, blocks of zeros are
// skipped so they stay holes.
func (j *fileJob) writeAt(b []byte, off int64) error {
	for len(b) > 0 {
		n := len(b)
		if j.sparse {
			n = dataRun(b, off)
			if n < 0 {
				off, b = off-int64(n), b[-n:]
				continue
			}
		}
		if err := pwriteAll(j.fd, b[:n], off); err != nil {
			return &entryError{j.name, fmt.Errorf("write: %w", err)}
		}
		off, b = off+int64(n), b[n:]
	}
	return nil
}

// dataRun returns the length of the run at the start of b that must be
// written (positive) or the length of the hole that can be skipped
// (negative), in whole aligned blocks of sparseUnit where possible.
func dataRun(b []byte, off int64) int {
	first := min(len(b), int(sparseUnit-off%sparseUnit))
	zero := allZero(b[:first])
	n := first
	for n < len(b) {
		next := min(len(b), n+sparseUnit)
		if allZero(b[n:next]) != zero {
			break
		}
		n = next
	}
	if zero {
		return -n
	}
	return n
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func pwriteAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for _, k := range []string{"GNU.sparse.major", "GNU.sparse.map", "GNU.sparse.size", "GNU.sparse.numblocks"} {
		if _, ok := hdr.PAXRecords[k]; ok {
			return true
		}
	}
	return false
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (w *writers) setErr(err error) {
	if err == nil {
		return
	}
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// failed returns the first error of a writer, if any.
func (w *writers) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// wait waits for every queued file and returns the first error.
func (w *writers) wait() error {
	w.stop()
	return w.failed()
}

func (w *writers) stop() {
	w.once.Do(func() {
		close(w.jobs)
		w.wg.Wait()
	})
}

// Buffers come from pools by power-of-two size class, so a stream of small
// files does not churn the garbage collector.
var bufPools [bits.UintSize]sync.Pool

func getBuf(n int) []byte {
	if n == 0 {
		return nil
	}
	c := bits.Len(uint(n - 1))
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<c)
}

func putBuf(b []byte) {
	if cap(b) == 0 || cap(b)&(cap(b)-1) != 0 {
		return
	}
	b = b[:cap(b)]
	bufPools[bits.Len(uint(cap(b)-1))].Put(&b)
}
