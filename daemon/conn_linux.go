package daemon

import (
	"math"
	"net"

	"golang.org/x/sys/unix"

	"initns/daemon/api"
)

// wire is a client's connection as its session reads it: the request
// bytes, and the descriptors the client passed with SCM_RIGHTS. Each
// descriptor is remembered with the place in the byte stream where it
// arrived, so that a request line takes exactly its own (exec takes its
// caller's stdin, stdout and stderr); the session closes every other one
// at once (RELIABILITY.md, "Resource budget").
type wire struct {
	c    *net.UnixConn
	oob  []byte
	read int64        // bytes read from the connection so far
	fds  []receivedFD // received, not yet taken by a request line
}

// receivedFD is a descriptor waiting for the request line it came with.
type receivedFD struct {
	fd int
	at int64 // offset in the stream of a byte of the message that carried it
}

func newWire(c *net.UnixConn) *wire {
	// Room for one descriptor more than a request takes: the kernel closes
	// what does not fit (MSG_CTRUNC), the daemon closes the one more.
	return &wire{c: c, oob: make([]byte, unix.CmsgSpace(4*(api.MaxFDs+1)))}
}

func (w *wire) Read(p []byte) (int, error) {
	n, oobn, _, _, err := w.c.ReadMsgUnix(p, w.oob)
	if n < 0 { // on errors, which io.Reader must not report as a count
		n = 0
	}
	if oobn > 0 {
		// The kernel ends a read at the end of a message that carries
		// descriptors, so the read's last byte belongs to it.
		w.receive(w.oob[:oobn], w.read+int64(max(n, 1))-1)
	}
	w.read += int64(n)
	return n, err
}

// receive keeps the descriptors of one message, up to the most one request
// takes; the rest are closed as they arrive, so a connection never holds
// more than api.MaxFDs of them.
func (w *wire) receive(oob []byte, at int64) {
	msgs, _ := unix.ParseSocketControlMessage(oob)
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if len(w.fds) >= api.MaxFDs {
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
