package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"initns/proto"
)

// wire is a client's connection as its session reads it: the request
// bytes, and the descriptors the client passed with SCM_RIGHTS. Each
// descriptor is remembered with the place in the byte stream where it
// arrived, so that a request line takes exactly its own (exec takes its
// caller's stdin, stdout and stderr); the session closes every other one
// at once. A wire also bounds how long a client may keep the daemon
// waiting: idle between requests, in the middle of a line, or not reading
// its answers (RELIABILITY.md, "Resource budget").
type wire struct {
	c          *net.UnixConn
	oob        []byte
	read       int64        // bytes read from the connection so far
	fds        []receivedFD // received, not yet taken by a request line
	idle, line time.Duration
	waiting    error // what a read past the deadline means now: errIdle or errLineTimeout

	wmu  sync.Mutex // writes: a request's progress and its answer
	werr error      // the first write that failed; every later one fails too
	gone func()     // while a request runs: cancels it
}

// receivedFD is a descriptor waiting for the request line it came with.
type receivedFD struct {
	fd int
	at int64 // offset in the stream of a byte of the message that carried it
}

func newWire(c *net.UnixConn, idle, line time.Duration) *wire {
	// Room for one descriptor more than a request takes: the kernel closes
	// what does not fit (MSG_CTRUNC), the daemon closes the one more.
	return &wire{c: c, oob: make([]byte, unix.CmsgSpace(4*(proto.MaxFDs+1))), idle: idle, line: line}
}

// Reads past a deadline.
var (
	errIdle        = errors.New("idle")
	errLineTimeout = errors.New("line timeout")
)

// timeout is a read past a deadline, saying which.
type timeout struct {
	err error // errIdle or errLineTimeout
	msg string
}

func (t *timeout) Error() string { return t.msg }
func (t *timeout) Unwrap() error { return t.err }

// awaitLine waits at most the idle timeout for the first byte of a request
// line, and then gives the rest of the line the line timeout.
func (w *wire) awaitLine(br *bufio.Reader) error {
	if br.Buffered() == 0 {
		w.waiting = errIdle
		w.c.SetReadDeadline(time.Now().Add(w.idle))
		if _, err := br.Peek(1); err != nil {
			if errors.Is(err, errIdle) {
				return err
			}
			return errEOF
		}
	}
	// A line already whole needs no deadline. Setting one anyway would
	// leave a stopped runtime timer that can wake the idle daemon when it
	// was due (TestIdleDaemon).
	if buf, _ := br.Peek(br.Buffered()); bytes.IndexByte(buf, '\n') >= 0 {
		return nil
	}
	w.waiting = errLineTimeout
	w.c.SetReadDeadline(time.Now().Add(w.line))
	return nil
}

// running lifts the read deadline while a request runs: a long new or
// exec is not idle.
func (w *wire) running() {
	w.waiting = nil
	w.c.SetReadDeadline(time.Time{})
}

func (w *wire) Read(p []byte) (int, error) {
	n, oobn, _, _, err := w.c.ReadMsgUnix(p, w.oob)
	if n < 0 { // on errors, which io.Reader must not report as a count
		n = 0
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		switch w.waiting {
		case errIdle:
			err = &timeout{errIdle, "no request within " + w.idle.String()}
		case errLineTimeout:
			err = &timeout{errLineTimeout, "line not finished within " + w.line.String()}
		}
	}
	if oobn > 0 {
		// The kernel ends a read at the end of a message that carries
		// descriptors, so the read's last byte belongs to it.
		w.receive(w.oob[:oobn], w.read+int64(max(n, 1))-1)
	}
	w.read += int64(n)
	return n, err
}

// Write sends a request's answer or progress. A client that does not read
// them for the idle timeout is taken as gone: the write fails, and so does
// every later one at once, so a request never waits on it twice.
func (w *wire) Write(p []byte) (int, error) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.werr != nil {
		return 0, w.werr
	}
	w.c.SetWriteDeadline(time.Now().Add(w.idle))
	n, err := w.c.Write(p)
	w.werr = err
	if err != nil && w.gone != nil {
		w.gone()
	}
	return n, err
}

// writeFD sends p with the descriptor fd attached (SCM_RIGHTS), under the
// same rules as Write. The kernel ends the client's read at the end of
// this message, so the descriptor arrives with exactly these bytes.
func (w *wire) writeFD(p []byte, fd int) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.werr != nil {
		return w.werr
	}
	w.c.SetWriteDeadline(time.Now().Add(w.idle))
	n, _, err := w.c.WriteMsgUnix(p, unix.UnixRights(fd), nil)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	w.werr = err
	if err != nil && w.gone != nil {
		w.gone()
	}
	return err
}

// watch watches the connection while a request runs, and calls gone if
// the client goes away: it closes the connection, or does not read what
// the request sends it. The returned function ends the watch; a byte of a
// next request ends it too, and waits in br.
func (w *wire) watch(br *bufio.Reader, gone func(), log *slog.Logger) (stop func()) {
	w.wmu.Lock()
	w.gone = gone
	w.wmu.Unlock()
	done := make(chan struct{})
	spawn(log, "connection watch", func() {
		defer close(done)
		_, err := br.Peek(1)
		switch {
		case err == nil, errors.Is(err, os.ErrDeadlineExceeded):
			return // a next request came, or this one ended
		case errors.Is(err, io.EOF) && !w.closed():
			return // the client only shut down its sending side
		}
		gone()
	})
	return func() {
		// A deadline in the past wakes the watch's read, and no byte is
		// lost: what it read waits in br.
		w.c.SetReadDeadline(time.Unix(1, 0))
		<-done
		w.wmu.Lock()
		w.gone = nil
		w.wmu.Unlock()
	}
}

// closed waits, once the client has shut down its sending side, until it
// closes the connection altogether, and reports whether it did; the read
// deadline ends the wait when the request ends first. A client that only
// shuts down sending (printf 'new a img\n' | nc -N) still waits for its
// answer, so that alone cancels nothing. The wait is the runtime's poller:
// any event on the socket wakes it, and only POLLHUP, both directions shut
// down, means the client is gone.
func (w *wire) closed() bool {
	raw, err := w.c.SyscallConn()
	if err != nil {
		return false
	}
	return raw.Read(func(fd uintptr) bool {
		p := []unix.PollFd{{Fd: int32(fd)}}
		n, _ := unix.Poll(p, 0)
		return n > 0 && p[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
	}) == nil
}

// receive keeps the descriptors of one message, up to the most one request
// takes; the rest are closed as they arrive, so a connection never holds
// more than proto.MaxFDs of them.
func (w *wire) receive(oob []byte, at int64) {
	msgs, _ := unix.ParseSocketControlMessage(oob)
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if len(w.fds) >= proto.MaxFDs {
				unix.Close(fd)
				continue
			}
			w.fds = append(w.fds, receivedFD{fd: fd, at: at})
		}
	}
}

// take returns the descriptors that came with the bytes before offset end;
// the caller owns them.
func (w *wire) take(end int64) []int {
	var taken []int
	kept := w.fds[:0]
	for _, f := range w.fds {
		if f.at < end {
			taken = append(taken, f.fd)
		} else {
			kept = append(kept, f)
		}
	}
	w.fds = kept
	return taken
}

// closeFDs closes every descriptor no request took: the session is over.
func (w *wire) closeFDs() { closeAll(w.take(math.MaxInt64)) }

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
