package daemon_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The socket's resource budget (RELIABILITY.md, "Resource budget"): what a
// client sends can hold only so many of the daemon's descriptors, for only
// so long.

// dialUnix connects to the daemon's socket.
func (e *env) dialUnix() *net.UnixConn {
	e.t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: e.sock, Net: "unix"})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// sendFDs writes data with three descriptors of /dev/null attached.
func sendFDs(t *testing.T, c *net.UnixConn, data string) {
	t.Helper()
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(null)
	if _, _, err := c.WriteMsgUnix([]byte(data), unix.UnixRights(null, null, null), nil); err != nil {
		t.Fatal(err)
	}
}

// readLineOf reads one line of an answer.
func readLineOf(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read answer: %v (so far %q)", err, line)
	}
	return line
}

// TestReceivedDescriptorsClosed: every descriptor that arrives with a
// message is taken by the request that needs it or closed at once,
// whatever the message: compatibility-mode lines, client-mode requests
// that take none, exec refused, lines split over many messages, over-long
// lines, unfinished lines of a client that hangs up. Issue 12: 520 short
// connections of these shapes used up a 4,096-descriptor limit.
func TestReceivedDescriptorsClosed(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, nil)
	e.ok("new", "box", "test.tar.gz")
	const n = 60
	fds0 := e.fds()

	// Answered, and the connection kept open: the descriptors must be
	// closed at once, not when the connection ends. (Exec is the last
	// request of a connection: the daemon closes those.)
	var open []*net.UnixConn
	answered := []struct{ send, want string }{
		{"ls instance\n", "box\n"},
		{`{"cmd":"ls"}` + "\n", `{"done":true,"result":`},
		{`{"cmd":"exec","args":["box","true"]}` + "\n", `"error":"instance box is not running`},
	}
	for _, a := range answered {
		for i := 0; i < n; i++ {
			c := e.dialUnix()
			open = append(open, c)
			sendFDs(t, c, a.send)
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if got := readLineOf(t, bufio.NewReader(c)); !strings.Contains(got, a.want) {
				t.Fatalf("%q answered %q, want %q", a.send, got, a.want)
			}
		}
	}
	if fds := e.steadyFDs(); fds > fds0+len(open) {
		t.Fatalf("%d connections answered and open: the daemon holds %d descriptors, %d at start", len(open), fds, fds0)
	}
	// A line in many messages, each with descriptors, not yet finished:
	// at most the three a request may take wait with it.
	for i := 0; i < n; i++ {
		c := e.dialUnix()
		open = append(open, c)
		for _, part := range []string{"l", "s", " ", "i", "m"} {
			sendFDs(t, c, part)
		}
	}
	peak := e.steadyFDs()
	if bound := fds0 + len(open) + 3*n; peak > bound {
		t.Fatalf("%d split lines waiting: the daemon holds %d descriptors, more than %d", n, peak, bound)
	}
	var fds int

	// The daemon closes these connections itself.
	for i := 0; i < n; i++ {
		c := e.dialUnix()
		sendFDs(t, c, strings.Repeat("x", 4000))
		c.Write([]byte(strings.Repeat("x", 1000) + "\n"))
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if got := readAnswers(t, c, 1); got != "syntax\n\n" {
			t.Fatalf("over-long line answered %q", got)
		}
		c.Close()
	}
	// The client hangs up mid-line.
	for _, half := range []string{`{"cmd":"ls"`, "ls ima"} {
		for i := 0; i < n; i++ {
			c := e.dialUnix()
			sendFDs(t, c, half)
			c.Close()
		}
	}
	for _, c := range open {
		c.Close()
	}
	e.waitFor("the daemon's descriptors back to where they started", func() bool {
		fds = e.fds()
		return fds <= fds0
	}, func() string { return fmt.Sprintf("descriptors %d -> %d", fds0, fds) })
	t.Logf("descriptors: %d at start; %d with %d connections open (%d of them waiting mid-line); %d after %d connections carrying 3 each",
		fds0, peak, len(open)-n, n, fds, len(open)+3*n)
	e.ok("ls")
}

// steadyFDs waits for the daemon's descriptor count to stop changing
// (the same over half a second) and returns it: it cannot be told when the
// daemon has read what was sent.
func (e *env) steadyFDs() int {
	e.t.Helper()
	last, same := e.fds(), 0
	for deadline := time.Now().Add(20 * time.Second); same < 5; {
		if time.Now().After(deadline) {
			e.t.Fatalf("the daemon's descriptors do not settle (%d)", last)
		}
		time.Sleep(100 * time.Millisecond)
		n := e.fds()
		if n == last {
			same++
		} else {
			last, same = n, 0
		}
	}
	return last
}
