package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Regular files, symlinks and device nodes are created by a few writer
// goroutines while the tar parser goes on, so decompression, parsing and
// the create/write/chown/chmod/utimes system calls of many small files
// overlap: creating a file is the dominant cost of extracting a root
// filesystem, and the kernel runs creations in parallel. Directories are
// made by the parser itself, so a parent always exists before its entries
// are queued. A file of up to smallFile bytes is read into a buffer of the
// writers' arena (at most maxBuffered bytes, outside the Go heap) and
// queued; a larger one is created and streamed by the parser. The parser
// waits for the writers when the arena is full, which bounds the daemon's
// memory.
//
// Ordering: the parser remembers the entries still queued (pending) and
// waits for one before it touches the same name again: a duplicate entry,
// a hard link to it, or a path through it.
const (
	smallFile   = 16 << 20
	maxBuffered = 32 << 20
	queueLen    = 256
	chunkSize   = 1 << 20
	sparseUnit  = 4096
	maxWriters  = 8
	// earlyWriteback is the size from which a file's writeback starts as
	// soon as it is written (measured: a quarter less time in the final
	// syncfs of a Debian root filesystem).
	earlyWriteback = 256 << 10
)

// fileJob creates one entry (not a directory) and sets its metadata.
type fileJob struct {
	pfd    int    // the parent directory, kept open until the job is done
	base   string // the name within pfd
	path   string // the clean path beneath the root
	hdr    *tar.Header
	attrs  attrs
	sparse bool
	data   []byte
	fd     int // the open file, for regular files
	done   chan struct{}
}

func (j *fileJob) name() string { return j.hdr.Name }

type writers struct {
	x        *extractor
	arena    *arena
	jobs     chan *fileJob
	wg       sync.WaitGroup
	inflight sync.WaitGroup
	once     sync.Once
	mu       sync.Mutex
	err      error
}

func newWriters(x *extractor) *writers {
	w := &writers{x: x, jobs: make(chan *fileJob, queueLen)}
	w.arena = newArena(maxBuffered)
	// One writer per CPU: creating files is CPU work in the kernel, and
	// more writers than CPUs only took time from the decompressor (measured
	// on two cores: 2 writers beat 4 by 10-15% on .tar.gz).
	n := min(max(2, runtime.GOMAXPROCS(0)), maxWriters)
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
			w.setErr(w.x.runJob(j, nil))
		}
		w.arena.put(j.data)
		close(j.done)
		w.inflight.Done()
	}
}

// queue hands a job to the writers; the parser must not touch j's name
// again before j.done is closed.
func (w *writers) queue(ctx context.Context, j *fileJob) error {
	j.done = make(chan struct{})
	w.inflight.Add(1)
	select {
	case w.jobs <- j:
		return nil
	case <-ctx.Done():
		w.arena.put(j.data)
		w.inflight.Done()
		close(j.done)
		return ctx.Err()
	}
}

// drain waits until every queued job is done.
func (w *writers) drain() { w.inflight.Wait() }

// runJob creates the entry of j and sets its metadata. A regular file's
// content is j.data, or, when r is not nil, read from r.
func (x *extractor) runJob(j *fileJob, r io.Reader) error {
	switch j.hdr.Typeflag {
	case tar.TypeSymlink:
		return x.makeSymlink(j)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return x.makeNode(j)
	}
	fd, err := x.create(j.pfd, j.path, j.base, j.hdr, func() (int, error) {
		// O_EXCL: never open what a symlink at this name points to.
		return unix.Openat(j.pfd, j.base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	})
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	j.fd = fd
	if j.sparse {
		// Sized first: holes are skipped, never written, and a size the
		// file system cannot hold fails at once (EFBIG).
		if err := unix.Ftruncate(fd, j.hdr.Size); err != nil {
			return &entryError{j.name(), fmt.Errorf("truncate to %d bytes: %w", j.hdr.Size, err)}
		}
	}
	if r != nil {
		if err := j.stream(r); err != nil {
			return err
		}
	}
	return j.finish(j.data)
}

// stream copies a large file's content in chunks.
func (j *fileJob) stream(r io.Reader) error {
	buf := getBuf(chunkSize)
	defer putBuf(buf)
	var off int64
	for off < j.hdr.Size {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), j.hdr.Size-off)])
		if err != nil {
			return &entryError{j.name(), &readErr{noEOF(err)}}
		}
		if err := j.writeAt(buf[:n], off); err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}

// finish writes data (if any) and sets the metadata.
func (j *fileJob) finish(data []byte) error {
	if len(data) > 0 {
		if err := j.writeAt(data, 0); err != nil {
			return err
		}
	}
	if j.hdr.Size >= earlyWriteback {
		// Start writing a large file back now, without waiting: the
		// final syncfs then has less left to flush. (Best effort: an
		// error here shows again at the syncfs.)
		unix.SyncFileRange(j.fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	if err := j.attrs.applyFd(j.fd); err != nil {
		return &entryError{j.name(), err}
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
			return &entryError{j.name(), fmt.Errorf("write: %w", err)}
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

var zeroBlock [sparseUnit]byte

// allZero reports whether b (at most sparseUnit bytes) is all zeros;
// bytes.Equal is vectorised, which matters in the holes of a large sparse
// file, read as zeros from archive/tar.
func allZero(b []byte) bool {
	return bytes.Equal(b, zeroBlock[:len(b)])
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
		w.arena.release()
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
