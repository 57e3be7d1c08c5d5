package daemon_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"initns/internal/ptytest"
	"initns/proto"
)

// BenchmarkSwitch measures `switch` as a user sees it, on this host with
// two test-init instances sharing one console (a pseudo-terminal): from
// the request sent until the arriving instance's init runs again (it
// writes to the FIFO /ready), and until its console answers (a line typed
// once the request is answered comes back from that instance). To a
// resident instance (thawed) and to a stopped one (booted, the one in
// front parked), p50 and p90 over 20 switches each; beside `run`, which
// stops the one in front and boots the other: the way back to a system
// without switch.
func BenchmarkSwitch(b *testing.B) {
	master, slave := ptytest.Open(b)
	noEcho(b, slave)
	e := startDaemon(b, "--console", slave)
	for _, n := range []string{"a", "b"} {
		e.image(n+".tar.gz", false, map[string]string{"echo-console": n})
		e.ok("new", n, n+".tar.gz")
	}
	c, err := net.Dial("unix", e.sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s := &switchBench{b: b, e: e, c: c, console: bufio.NewReader(master), master: master}
	const n = 20
	other := map[string]string{"a": "b", "b": "a"}
	s.send("run", "a")
	e.waitReport("a")
	run, cur := s.series(n, "a", func(to string) bool {
		e.waitFor(other[to]+" to stop", func() bool { return e.state(other[to]).State == "stopped" })
		return false
	}, "run")
	stopped, cur := s.series(1, cur, func(string) bool { return false }, "switch")
	resident, cur := s.series(n, cur, func(string) bool { return true }, "switch")
	s.send("stop", other[cur])
	more, _ := s.series(n-1, cur, func(to string) bool {
		s.send("stop", other[to]) // the one just parked: the next target is stopped
		return false
	}, "switch")
	stopped.init = append(stopped.init, more.init...)
	stopped.console = append(stopped.console, more.console...)

	fmt.Printf("\nswitch, %d each, request sent to:     init runs: p50        p90   console answers: p50        p90   run/this (console p50)\n", n)
	rp50, _ := percentiles(run.console)
	for _, r := range []struct {
		name string
		t    timings
	}{{"run: stop the one in front, boot", run}, {"switch to a stopped instance", stopped}, {"switch to a resident instance", resident}} {
		i50, i90 := percentiles(r.t.init)
		c50, c90 := percentiles(r.t.console)
		fmt.Printf("%-34s %14s %10s %21s %10s %9.1fx\n", r.name, i50.Round(time.Microsecond), i90.Round(time.Microsecond),
			c50.Round(time.Microsecond), c90.Round(time.Microsecond), float64(rp50)/float64(c50))
	}
	sp50, _ := percentiles(resident.init)
	cp50, _ := percentiles(resident.console)
	b.ReportMetric(float64(sp50)/1e6, "switch-resident-ms")
	b.ReportMetric(float64(rp50)/float64(cp50), "run/switch")
}

type switchBench struct {
	b       *testing.B
	e       *env
	c       net.Conn
	master  *os.File
	console *bufio.Reader
	pings   int
}

type timings struct{ init, console []time.Duration }

func (s *switchBench) send(cmd string, args ...string) {
	request(s.b, s.c, proto.Request{Cmd: cmd, Args: args})
}

// series moves the console n times with cmd from cur to the other
// instance and back; after runs after each move and says whether the
// next target is resident. It returns the timings and where it ended.
func (s *switchBench) series(n int, cur string, after func(to string) bool, cmd string) (timings, string) {
	var t timings
	resident := cmd == "switch" && s.e.state(map[string]string{"a": "b", "b": "a"}[cur]).State == "resident"
	for i := 0; i < n; i++ {
		to := map[string]string{"a": "b", "b": "a"}[cur]
		in, con := s.move(cmd, to, resident)
		t.init, t.console = append(t.init, in), append(t.console, con)
		cur = to
		resident = after(to)
	}
	return t, cur
}

// move sends cmd to, and times the arriving init and its console.
func (s *switchBench) move(cmd, to string, resident bool) (initRuns, consoleAnswers time.Duration) {
	root := s.e.rootfs(to)
	fifo := filepath.Join(root, "ready")
	os.Remove(fifo)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		s.b.Fatal(err)
	}
	ready, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		s.b.Fatal(err)
	}
	defer ready.Close()
	if resident {
		// Read by the frozen init once it is thawed: the FIFO opened
		// read-write never waits, and stays open until it was read.
		ctl, err := os.OpenFile(filepath.Join(root, "ctl"), os.O_RDWR, 0)
		if err != nil {
			s.b.Fatal(err)
		}
		defer ctl.Close()
		ctl.WriteString("ready\n")
	}
	got := make(chan time.Duration, 1)
	t0 := time.Now()
	go func() {
		buf := make([]byte, 8)
		ready.Read(buf)
		got <- time.Since(t0)
	}()
	s.send(cmd, to)
	s.pings++
	ping := fmt.Sprintf("ping %d", s.pings)
	s.master.WriteString(ping + "\n")
	for {
		line, err := s.console.ReadString('\n')
		if err != nil && !strings.Contains(err.Error(), "input/output error") {
			s.b.Fatalf("console: %v", err)
		}
		if strings.TrimSpace(line) == to+": "+ping {
			break
		}
	}
	consoleAnswers = time.Since(t0)
	select {
	case initRuns = <-got:
	case <-time.After(20 * time.Second):
		s.b.Fatalf("%s %s: its init did not run", cmd, to)
	}
	return initRuns, consoleAnswers
}

// noEcho turns the terminal's echo off: only the instances answer.
func noEcho(b *testing.B, slave string) {
	fd, err := unix.Open(slave, unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		b.Fatal(err)
	}
	tio.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, tio); err != nil {
		b.Fatal(err)
	}
}
