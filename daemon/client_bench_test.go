package daemon_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"initns/internal/inittrace"
	"initns/proto"
)

// BenchmarkClient measures the latency a user sees: a command typed at a
// shell (fork+exec of the initns binary) until the instance's init runs
// (run), and until `stop --kill` returns. Beside it, the same requests over
// a raw socket from this process (dial, request, answer: the daemon's own
// share), and from a static C client built from testdata/cclient, which
// sends `run NAME` in the compatibility mode and stop's client-mode line,
// and from the same few lines in Go (testdata/goclient): the floor of any
// client whose process starts the Go runtime. The four take turns within each cycle, so that a busy machine weighs on
// them alike.
func BenchmarkClient(b *testing.B) {
	// More cycles than the lifecycle benchmark's: a cycle takes a few
	// milliseconds, and the ratios of two p50s near the Go runtime's floor
	// want many samples on a busy machine.
	const clientCycles = 4 * cycles
	cclient := buildCClient(b)
	goclient := buildGoClient(b)
	e := startDaemon(b)
	e.image("bench.tar.gz", true, map[string]string{"sbin/init": benchInit})
	e.ok("new", "bench", "bench.tar.gz")
	root := e.rootfs("bench")
	if err := os.Chmod(filepath.Join(root, "sbin/init"), 0o755); err != nil {
		b.Fatal(err)
	}
	initns := filepath.Join(e.bin, "initns")
	stopLine := `{"cmd":"stop","args":["bench"],"kill":true}`
	// Each way starts a request and returns what waits for its end: the
	// time to the init running does not wait for the answer.
	ways := []struct {
		name      string
		run, stop func() (wait func())
	}{
		{"raw socket",
			func() func() { return dialRequest(b, e.sock, proto.Request{Cmd: "run", Args: []string{"bench"}}) },
			func() func() {
				return dialRequest(b, e.sock, proto.Request{Cmd: "stop", Args: []string{"bench"}, Kill: true})
			}},
		{"static C client",
			func() func() { return command(b, cclient, e.sock, "run bench") },
			func() func() { return command(b, cclient, e.sock, stopLine) }},
		{"minimal Go client",
			func() func() { return command(b, goclient, e.sock, "run bench") },
			func() func() { return command(b, goclient, e.sock, stopLine) }},
		{"initns (Go)",
			func() func() { return command(b, initns, "--socket", e.sock, "run", "bench") },
			func() func() { return command(b, initns, "--socket", e.sock, "stop", "--kill", "bench") }},
	}
	run := make([][]time.Duration, len(ways))
	stop := make([][]time.Duration, len(ways))
	for i := 0; i < clientCycles; i++ {
		for k := range ways {
			w := (i + k) % len(ways)
			var wait func()
			run[w] = append(run[w], timeToReady(b, root, func() { wait = ways[w].run() }))
			wait()
			stop[w] = append(stop[w], timed(func() { ways[w].stop()() }))
		}
	}
	fmt.Printf("\nclient latency over %d cycles  run p50    p90  stop --kill p50    p90\n", clientCycles)
	for w := range ways {
		r50, r90 := percentiles(run[w])
		s50, s90 := percentiles(stop[w])
		fmt.Printf("%-29s %9s %9s %9s %9s\n", ways[w].name, r50.Round(time.Microsecond), r90.Round(time.Microsecond),
			s50.Round(time.Microsecond), s90.Round(time.Microsecond))
	}
	ratio := func(d [][]time.Duration, a, c int) float64 {
		pa, _ := percentiles(d[a])
		pc, _ := percentiles(d[c])
		return float64(pa) / float64(pc)
	}
	fmt.Printf("p50 ratios: Go/C run %.2fx, stop %.2fx (goal: at most 1.2x); Go/raw run %.2fx, stop %.2fx; C/raw run %.2fx, stop %.2fx\n",
		ratio(run, 3, 1), ratio(stop, 3, 1), ratio(run, 3, 0), ratio(stop, 3, 0), ratio(run, 1, 0), ratio(stop, 1, 0))
	fmt.Printf("the Go runtime's floor: minimal Go/C run %.2fx, stop %.2fx; initns/minimal Go run %.2fx, stop %.2fx\n",
		ratio(run, 2, 1), ratio(stop, 2, 1), ratio(run, 3, 2), ratio(stop, 3, 2))
	printInitCost(b, "initns", initns, "--socket", e.sock, "version")
	printInitCost(b, "minimal Go client", goclient, e.sock, "version")
	b.ReportMetric(ratio(run, 3, 1), "run-go/c")
	b.ReportMetric(ratio(stop, 3, 1), "stop-go/c")
}

// printInitCost prints what a start of the binary spends in package
// initialisation (GODEBUG=inittrace=1, the mean of 20 starts), and the
// packages that cost most: where a dependency's eager work shows first.
func printInitCost(b *testing.B, name, bin string, args ...string) {
	const starts = 20
	var trace bytes.Buffer
	for range starts {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		cmd.Stderr = &trace
		cmd.Run() // the minimal client refuses "version": only its start counts
	}
	s, err := inittrace.Read(trace.String(), starts)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("package initialisation of %s: %v\n", name, s)
}

// buildCClient builds testdata/cclient statically, as a C client would
// ship.
func buildCClient(b *testing.B) string {
	out := filepath.Join(b.TempDir(), "cclient")
	cmd := exec.Command("gcc", "-static", "-O2", "-o", out, "../testdata/cclient/cclient.c")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build the C client: %v\n%s", err, msg)
	}
	return out
}

// buildGoClient builds testdata/goclient as initns itself is built
// (static, stripped).
func buildGoClient(b *testing.B) string {
	out := filepath.Join(b.TempDir(), "goclient")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "../testdata/goclient")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build the minimal Go client: %v\n%s", err, msg)
	}
	return out
}

// command starts a client as a shell would (fork+exec), and returns what
// waits for its end and fails the benchmark unless it succeeded.
func command(b *testing.B, name string, args ...string) (wait func()) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return func() {
		if err := cmd.Wait(); err != nil {
			b.Fatalf("%s %q: %v\n%s", filepath.Base(name), args, err, out.String())
		}
	}
}

// dialRequest connects and sends one client-mode request, and returns
// what reads its answer: a client's round trip without a process of its
// own.
func dialRequest(b *testing.B, sock string, req proto.Request) (wait func()) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	data, _ := json.Marshal(req)
	if _, err := c.Write(append(data, '\n')); err != nil {
		b.Fatal(err)
	}
	return func() {
		defer c.Close()
		var rep proto.Reply
		if err := json.NewDecoder(c).Decode(&rep); err != nil || rep.Error != "" {
			b.Fatalf("%s: %s %v", req.Cmd, rep.Error, err)
		}
	}
}
