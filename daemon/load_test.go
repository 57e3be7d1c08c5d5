package daemon_test

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"initns/proto"

	"initns/daemon/internal/procstatus"
)

// TestLoad runs 200 clients at once for 30 s, mixing ls, run, stop and bad
// requests in both modes, while large `new`s (and `rm`s) run back to back:
// no good request may fail, and the daemon must end with the descriptors
// and goroutines it started with.
func TestLoad(t *testing.T) {
	e := startDaemon(t, "--debug", "--stop-timeout", "100ms")
	e.image("test.tar.gz", false, nil)
	bigImage(t, filepath.Join(e.root, "images", "big.tar"), 1500, 64<<10)
	e.ok("new", "a", "test.tar.gz")
	e.ok("new", "b", "test.tar.gz")
	fds0, gor0 := e.fds(), e.goroutines()

	deadline := time.Now().Add(loadDuration)
	var news atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // large extractions, back to back, for the whole run
		defer wg.Done()
		for time.Now().Before(deadline) {
			e.ok("new", "big", "big.tar")
			e.ok("rm", "big")
			news.Add(1)
		}
	}()
	var mu sync.Mutex
	var lsLatency []time.Duration
	var failures []string
	var requests atomic.Int64
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			l := &loadClient{e: e, rng: rand.New(rand.NewPCG(seed, 1))}
			defer l.close()
			for time.Now().Before(deadline) {
				d, err := l.one()
				requests.Add(1)
				mu.Lock()
				if d > 0 {
					lsLatency = append(lsLatency, d)
				}
				if err != nil {
					failures = append(failures, err.Error())
				}
				mu.Unlock()
			}
		}(uint64(i))
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d good requests failed, first: %s", len(failures), failures[0])
	}
	slices.Sort(lsLatency)
	p99 := lsLatency[len(lsLatency)*99/100]
	t.Logf("%d requests, %d large new+rm cycles, ls p50 %v p99 %v (target p99 < 50ms)",
		requests.Load(), news.Load(), lsLatency[len(lsLatency)/2], p99)

	for _, n := range []string{"a", "b"} {
		if e.state(n).State != "stopped" {
			e.ok("stop", n, "--kill")
		}
	}
	var fds, gor int
	e.waitFor("descriptors and goroutines back to where they started", func() bool {
		fds, gor = e.fds(), e.goroutines()
		return fds <= fds0 && gor <= gor0
	}, func() string { return fmt.Sprintf("descriptors %d -> %d, goroutines %d -> %d", fds0, fds, gor0, gor) })
	t.Logf("descriptors %d -> %d, goroutines %d -> %d", fds0, fds, gor0, gor)
}

// TestIdleDaemon: an idle daemon is small and never wakes up.
func TestIdleDaemon(t *testing.T) {
	e := startDaemon(t)
	e.ok("ls")
	time.Sleep(time.Second) // let start-up work settle
	before := e.switches()
	time.Sleep(10 * time.Second)
	woke := e.switches() - before
	rss := e.rss()
	t.Logf("idle daemon: %d context switches over 10 s, %d KiB resident", woke, rss)
	if woke > 3 {
		t.Errorf("idle daemon woke %d times in 10 s: a polling loop?", woke)
	}
	if rss > 15<<10 {
		t.Errorf("idle daemon uses %d KiB, over 15 MiB", rss)
	}
}

// loadClient is one of the load test's clients, with a connection per mode.
type loadClient struct {
	e      *env
	rng    *rand.Rand
	client net.Conn
	cr     *bufio.Reader
}

func (l *loadClient) close() {
	if l.client != nil {
		l.client.Close()
	}
}

// one sends one request; it returns the latency of an ls and the failure of
// a good request.
func (l *loadClient) one() (time.Duration, error) {
	inst := []string{"a", "b"}[l.rng.IntN(2)]
	switch op := l.rng.IntN(10); {
	case op < 5:
		start := time.Now()
		_, err := l.request(proto.Request{Cmd: "ls"})
		return time.Since(start), err
	case op < 7:
		_, err := l.request(proto.Request{Cmd: "run", Args: []string{inst}})
		return 0, err
	case op < 8:
		_, err := l.request(proto.Request{Cmd: "stop", Args: []string{inst}, Kill: true})
		if err != nil && strings.Contains(err.Error(), "not running") {
			err = nil // it was stopped by another client first
		}
		return 0, err
	default:
		return 0, l.bad()
	}
}

func (l *loadClient) request(req proto.Request) (json.RawMessage, error) {
	if l.client == nil {
		c, err := net.Dial("unix", l.e.sock)
		if err != nil {
			return nil, err
		}
		l.client, l.cr = c, bufio.NewReader(c)
	}
	data, _ := json.Marshal(req)
	if _, err := l.client.Write(append(data, '\n')); err != nil {
		return nil, err
	}
	line, err := l.cr.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.Cmd, err)
	}
	var rep proto.Reply
	if err := json.Unmarshal(line, &rep); err != nil {
		return nil, err
	}
	if rep.Error != "" {
		return nil, fmt.Errorf("%s %v: %s", req.Cmd, req.Args, rep.Error)
	}
	return rep.Result, nil
}

// bad sends a bad request on a connection of its own and checks the daemon
// answers it as it should.
func (l *loadClient) bad() error {
	reqs := []struct{ send, want string }{
		{"frobnicate\n", "syntax\n\n"},
		{"new ../escape test.tar.gz\n", "error\n\n"},
		{"{not json\n", `"code":"usage"`},
		{strings.Repeat("y", 5000) + "\n", "syntax\n\n"},
		{"\x00\x01\x02\n", "syntax\n\n"},
	}
	r := reqs[l.rng.IntN(len(reqs))]
	c, err := net.Dial("unix", l.e.sock)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(r.send)); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	got, _ := br.ReadString('\n')
	if strings.HasSuffix(r.want, "\n\n") { // a compatibility answer: two lines
		more, _ := br.ReadString('\n')
		got += more
	}
	if !strings.Contains(got, r.want) {
		return fmt.Errorf("bad request %.20q: answer %q, want %q", r.send, got, r.want)
	}
	return nil
}

// fds counts the daemon's open descriptors.
func (e *env) fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", e.daemon.Process.Pid))
	if err != nil {
		e.t.Fatal(err)
	}
	return len(ents)
}

// goroutines asks a --debug daemon for its goroutine count.
func (e *env) goroutines() int {
	out := e.compat("debug-stats\n", 1)
	n, err := strconv.Atoi(strings.Fields(out)[1])
	if err != nil {
		e.t.Fatalf("debug-stats: %q", out)
	}
	return n
}

// switches sums the context switches of every daemon thread.
func (e *env) switches() int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", e.daemon.Process.Pid))
	total := 0
	for _, s := range tasks {
		data, _ := os.ReadFile(s)
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, "ctxt_switches:") {
				n, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(l, ":", 2)[1]))
				total += n
			}
		}
	}
	return total
}

// rss is the daemon's resident memory in KiB.
func (e *env) rss() int { return e.memKB("VmRSS") }

// memKB is a memory figure of the daemon's /proc/PID/status (VmRSS, the
// peak VmHWM...) in KiB, 0 when it cannot be read.
func (e *env) memKB(key string) int {
	st, _ := procstatus.Read(strconv.Itoa(e.daemon.Process.Pid), key)
	if len(st[key]) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(st[key][0])
	return n
}

// bigImage writes a plain tar of n files of size bytes of random data.
func bigImage(t *testing.T, path string, n, size int) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	buf := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		for j := 0; j+8 <= len(buf); j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%d/f%d", i%20, i), Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg})
		tw.Write(buf)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

const loadDuration = 30 * time.Second
