package daemon_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
	e := startCapped(t)
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
	e.withinBudget(32 << 20)
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

// TestIdleConnectionsTimeOut: a connection that sends nothing, or stops in
// the middle of a line, is closed after the idle or the line timeout, and
// gives back its descriptor; meanwhile ls answers, and a long request (an
// exec longer than both timeouts) is not idle. Issue 12: 100 silent
// connections held 100 descriptors for ever.
func TestIdleConnectionsTimeOut(t *testing.T) {
	const idle, line = 2 * time.Second, time.Second
	e := startCapped(t, "--idle-timeout", idle.String(), "--line-timeout", line.String())
	e.image("test.tar.gz", false, nil)
	e.ok("new", "box", "test.tar.gz")
	e.ok("run", "box")
	e.waitReport("box")
	fds0 := e.steadyFDs()

	type held struct {
		c          *net.UnixConn
		want       string // what the daemon says before it closes; "" nothing
		min        time.Duration
		start, end time.Time
	}
	var conns []*held
	start := time.Now()
	// Each one's start is taken before the daemon can start its clock.
	for i := 0; i < 100; i++ { // silent
		conns = append(conns, &held{start: time.Now(), c: e.dialUnix(), min: idle})
	}
	for i := 0; i < 20; i++ { // one request, then silent
		h := &held{start: time.Now(), c: e.dialUnix(), min: idle}
		h.c.Write([]byte("ls instance\n"))
		if got := readAnswers(t, h.c, 1); got != "box\n\n" {
			t.Fatalf("ls instance = %q", got)
		}
		conns = append(conns, h)
	}
	for i := 0; i < 20; i++ { // half a line, in either mode
		h := &held{start: time.Now(), c: e.dialUnix(), want: "syntax\n", min: line}
		h.c.Write([]byte("ls inst"))
		conns = append(conns, h)
		h = &held{start: time.Now(), c: e.dialUnix(), want: `{"done":true,"error":"bad request: line not finished within 1s`, min: line}
		h.c.Write([]byte(`{"cmd":"l`))
		conns = append(conns, h)
	}
	e.ok("ls") // answers beside them
	exec := make(chan result, 1)
	go func() { exec <- e.client("exec", "box", "--", "busybox", "sleep", "3") }()

	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for _, h := range conns {
		wg.Add(1)
		go func(h *held) {
			defer wg.Done()
			h.c.SetReadDeadline(time.Now().Add(30 * time.Second))
			got, err := bufio.NewReader(h.c).ReadString('\n')
			h.end = time.Now()
			switch {
			case h.want == "" && (got != "" || err != io.EOF):
				errs <- fmt.Errorf("silent connection: read %q, %v; want the daemon to close it", got, err)
			case h.want != "" && !strings.HasPrefix(got, h.want):
				errs <- fmt.Errorf("half-line connection: read %q (%v), want %q", got, err, h.want)
			case h.end.Sub(h.start) < h.min:
				errs <- fmt.Errorf("closed after %v, before the timeout %v", h.end.Sub(h.start), h.min)
			}
		}(h)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var last time.Duration
	for _, h := range conns {
		last = max(last, h.end.Sub(start))
		h.c.Close()
	}
	if r := <-exec; r.code != 0 {
		t.Errorf("exec sleep 3, longer than the idle and line timeouts: exit %d: %s", r.code, r.stderr)
	}
	fds := e.steadyFDs()
	t.Logf("%d connections (100 silent, 20 after a request, 40 mid-line) all closed by %v (idle timeout %v, line timeout %v); descriptors %d -> %d",
		len(conns), last.Round(time.Millisecond), idle, line, fds0, fds)
	if fds > fds0 {
		t.Errorf("descriptors %d -> %d", fds0, fds)
	}
	e.withinBudget(32 << 20)
}

// TestConnectionCap: past the most connections the daemon serves at once,
// a connection gets one line saying so and is closed; once one closes, the
// next is served.
func TestConnectionCap(t *testing.T) {
	const most = 20
	e := startCapped(t, "--max-connections", fmt.Sprint(most))
	var conns []*net.UnixConn
	for i := 0; i < most; i++ {
		c := e.dialUnix()
		c.Write([]byte("ls instance\n"))
		if got := readAnswers(t, c, 1); got != "\n" {
			t.Fatalf("connection %d: ls instance = %q", i, got)
		}
		conns = append(conns, c)
	}
	c := e.dialUnix()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	refusal := readLineOf(t, r)
	want := fmt.Sprintf("error: busy: %d connections open", most)
	if !strings.HasPrefix(refusal, want) {
		t.Fatalf("connection %d: %q, want %q...", most+1, refusal, want)
	}
	if rest, err := r.ReadString('\n'); rest != "" || err != io.EOF {
		t.Fatalf("after the refusal: %q, %v; want the connection closed", rest, err)
	}
	c.Close()
	e.refused(1, want, "ls")
	conns[0].Close()
	e.waitFor("ls to be served again", func() bool { return e.client("ls").code == 0 })
	t.Logf("refusal: %s", strings.TrimSpace(refusal))
	for _, c := range conns[1:] {
		c.Close()
	}
	e.withinBudget(32 << 20)
}

// TestHangupCancels: a client that goes away while its new runs cancels
// it, whichever way it goes (the real client killed, a client-mode or a
// compatibility-mode connection closed); nothing is left behind and the
// daemon's log says so. A client that only shuts down its sending side
// (printf ... | nc -N) still gets its answer. Issue 12: the work went on and
// registered an instance the user had abandoned.
func TestHangupCancels(t *testing.T) {
	e := startCapped(t)
	bigImage(t, filepath.Join(e.root, "images", "big.tar"), 1500, 64<<10)
	scratch := filepath.Join(e.root, "scratch")
	busy := func() bool { ents, _ := os.ReadDir(scratch); return len(ents) > 0 }

	// The real client, killed once extraction is under way.
	cmd := exec.Command(filepath.Join(e.bin, "initns"), "--socket", e.sock, "new", "killed", "big.tar")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the extraction to start", busy)
	cmd.Process.Kill()
	cmd.Wait()
	// A client-mode connection closed after the first progress event.
	c := e.dialUnix()
	c.Write([]byte(`{"cmd":"new","args":["closed","big.tar"]}` + "\n"))
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if got := readLineOf(t, bufio.NewReader(c)); !strings.HasPrefix(got, `{"progress":`) {
		t.Fatalf("new: %q, want a progress event", got)
	}
	c.Close()
	// A compatibility-mode connection closed once extraction is under way.
	e.waitFor("the last new to be cancelled", func() bool { return !busy() })
	c = e.dialUnix()
	c.Write([]byte("new compat big.tar\n"))
	e.waitFor("the extraction to start", busy)
	c.Close()

	for _, name := range []string{"killed", "closed", "compat"} {
		e.waitFor("the log to say new "+name+" was cancelled", func() bool {
			return strings.Contains(e.requestLog("new", name), "cancelled=")
		}, func() string { return "log: " + e.requestLog("new", name) })
		t.Logf("%s", e.requestLog("new", name))
	}
	if ls := e.ok("ls", "instance"); ls != "" {
		t.Errorf("ls instance after the cancelled news: %q", ls)
	}
	if ents, _ := os.ReadDir(scratch); len(ents) > 0 {
		t.Errorf("scratch holds %d entries after the cancelled news, first %s", len(ents), ents[0].Name())
	}

	// Only the sending side shut down: the client waits for the answer.
	c = e.dialUnix()
	c.Write([]byte(`{"cmd":"new","args":["kept","big.tar"]}` + "\n"))
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	for {
		line := readLineOf(t, r)
		if strings.HasPrefix(line, `{"done":true`) {
			if line != `{"done":true}`+"\n" {
				t.Fatalf("new kept, after shutting down sending: %q", line)
			}
			break
		}
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("after the answer: %q, %v; want the daemon to close the connection", rest, err)
	}
	c.Close()
	if ls := e.ok("ls", "instance"); ls != "kept\n" {
		t.Errorf("ls instance = %q, want kept", ls)
	}
	e.nothingLeft("big.tar")
	e.withinBudget(64 << 20)
}

// requestLog returns the daemon's log line of the request cmd NAME ...
// (the last one), or "".
func (e *env) requestLog(cmd, name string) string {
	data, _ := os.ReadFile(filepath.Join(e.root, "log"))
	found := ""
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "msg=request ") && strings.Contains(l, "command="+cmd+" ") && (strings.Contains(l, "args=\"["+name+" ") || strings.Contains(l, "args=["+name+"] ")) {
			found = l
		}
	}
	return found
}

// TestHangupKillsExec: exec's command ends when its client is killed.
func TestHangupKillsExec(t *testing.T) {
	e := startCapped(t).box()
	leaf := filepath.Join(e.cgroup, "box", "initns.exec", "cgroup.procs")
	cmd := exec.Command(filepath.Join(e.bin, "initns"), "--socket", e.sock, "exec", "box", "--", "busybox", "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	procs := func() string { data, _ := os.ReadFile(leaf); return strings.TrimSpace(string(data)) }
	e.waitFor("exec's command to start", func() bool { return procs() != "" })
	cmd.Process.Kill()
	cmd.Wait()
	e.waitFor("exec's command to be killed", func() bool { return procs() == "" }, procs)
	e.waitFor("the log to say exec was cancelled", func() bool {
		return strings.Contains(e.requestLog("exec", "box"), "cancelled=")
	})
	e.ok("stop", "box")
	e.withinBudget(32 << 20)
}
