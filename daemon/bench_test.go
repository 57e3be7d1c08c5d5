package daemon_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"initns/proto"
)

// benchInit is the instance's /sbin/init for the lifecycle benchmark: it
// says it runs through the FIFO /ready, then sleeps.
const benchInit = `#!/bin/sh
echo up > /ready
exec /bin/busybox sleep 1000000
`

const cycles = 50

// BenchmarkLifecycle measures run-to-init (request sent until the
// instance's /sbin/init runs) and stop latencies, p50 and p90 over 50
// cycles, beside the floor: a plain fork+exec (chroot) of the same init.
func BenchmarkLifecycle(b *testing.B) {
	e := startDaemon(b)
	e.image("bench.tar.gz", true, map[string]string{"sbin/init": benchInit})
	e.ok("new", "bench", "bench.tar.gz")
	root := e.rootfs("bench")
	if err := os.Chmod(filepath.Join(root, "sbin/init"), 0o755); err != nil {
		b.Fatal(err)
	}
	c, err := net.Dial("unix", e.sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var floor, run, stopKill []time.Duration
	for i := 0; i < cycles; i++ {
		floor = append(floor, forkExecFloor(b, root))
		d := timeToReady(b, root, func() { request(b, c, proto.Request{Cmd: "run", Args: []string{"bench"}}) })
		run = append(run, d)
		stopKill = append(stopKill, timed(func() { request(b, c, proto.Request{Cmd: "stop", Args: []string{"bench"}, Kill: true}) }))
	}
	fp50, _ := percentiles(floor)
	fmt.Printf("\nlifecycle over %d cycles        p50        p90   p50/floor\n", cycles)
	for _, r := range []struct {
		name string
		d    []time.Duration
	}{{"floor: fork+exec of the init", floor}, {"run to init running", run}, {"stop --kill", stopKill}} {
		p50, p90 := percentiles(r.d)
		fmt.Printf("%-30s %9s %9s %8.2fx\n", r.name, p50.Round(time.Microsecond), p90.Round(time.Microsecond), float64(p50)/float64(fp50))
	}
	rp50, _ := percentiles(run)
	kp50, _ := percentiles(stopKill)
	b.ReportMetric(float64(rp50)/float64(fp50), "run/floor")
	b.ReportMetric(float64(kp50)/1e6, "stop-kill-ms")
}

func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// timeToReady makes the /ready FIFO, runs start, and returns the time
// until the init wrote to it.
func timeToReady(b *testing.B, root string, start func()) time.Duration {
	fifo := filepath.Join(root, "ready")
	os.Remove(fifo)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		b.Fatal(err)
	}
	// O_RDWR so the open does not wait for the writer.
	f, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	t0 := time.Now()
	start()
	buf := make([]byte, 8)
	if _, err := f.Read(buf); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

func forkExecFloor(b *testing.B, root string) time.Duration {
	var cmd *exec.Cmd
	d := timeToReady(b, root, func() {
		cmd = exec.Command("/sbin/init")
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
	})
	cmd.Process.Kill()
	cmd.Wait()
	return d
}

func request(b *testing.B, c net.Conn, req proto.Request) {
	data, _ := json.Marshal(req)
	c.Write(append(data, '\n'))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		b.Fatal(err)
	}
	var rep proto.Reply
	if err := json.Unmarshal(buf[:n], &rep); err != nil || rep.Error != "" {
		b.Fatalf("%s: %s %v", req.Cmd, rep.Error, err)
	}
}

func percentiles(d []time.Duration) (p50, p90 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*50/100], s[len(s)*90/100]
}
