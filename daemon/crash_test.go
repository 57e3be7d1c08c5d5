package daemon_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestKillDaemonDuringRun kills the daemon (not PID 1) at random points of
// `run`, 50 times: after a restart the instance is either running (adopted
// from its cgroup) or stopped with no cgroup left, and it can be stopped.
func TestKillDaemonDuringRun(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, nil)
	e.ok("new", "box", "test.tar.gz")
	rng := rand.New(rand.NewPCG(3, 4))
	running := 0
	for i := 0; i < 50; i++ {
		done := make(chan result, 1)
		go func() { done <- e.client("run", "box") }()
		time.Sleep(time.Duration(rng.IntN(8000)) * time.Microsecond)
		e.daemon.Process.Kill()
		<-e.exited
		<-done
		e.start()
		switch st := e.state("box"); st.State {
		case "running":
			running++
			e.ok("stop", "box", "--kill")
		case "stopped":
		default:
			t.Fatalf("kill %d: state %q", i, st.State)
		}
		e.groupGone("box")
		if ents, _ := os.ReadDir(e.cgroup); len(ents) > 0 {
			for _, d := range ents {
				if d.IsDir() {
					t.Fatalf("kill %d: cgroup %s left behind", i, d.Name())
				}
			}
		}
		os.Remove(filepath.Join(e.rootfs("box"), "report.json"))
	}
	t.Logf("50 kills during run: %d left the instance running (adopted), %d stopped", running, 50-running)
}
