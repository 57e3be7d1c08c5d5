package daemon_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// count asks name's test init for its in-memory counter and returns its
// pid and the counter.
func (e *env) count(name string) (pid, ticks int) {
	e.t.Helper()
	path := filepath.Join(e.rootfs(name), "count")
	os.Remove(path)
	e.ctl(name, "count")
	var data []byte
	e.waitFor(name+"'s count", func() bool {
		var err error
		data, err = os.ReadFile(path)
		return err == nil
	})
	f := strings.Fields(string(data))
	pid, _ = strconv.Atoi(f[0])
	ticks, _ = strconv.Atoi(f[1])
	return pid, ticks
}

// frozenEvent reads the frozen key of the instance's cgroup.events.
func (e *env) frozenEvent(name string) string {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join(e.cgroup, name, "cgroup.events"))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "frozen "); ok {
			return v
		}
	}
	e.t.Fatalf("no frozen key in cgroup.events of %s: %q", name, data)
	return ""
}

// sortedProcs lists the pids of the instance's cgroup tree, sorted.
func (e *env) sortedProcs(name string) []string {
	pids := e.procs(name)
	slices.Sort(pids)
	return pids
}

// boots switches to each of names in turn, each booted from stopped, and
// waits for its init.
func (e *env) boots(names ...string) {
	e.t.Helper()
	for _, n := range names {
		e.ok("switch", n)
		e.waitReport(n)
	}
}

// startPair starts a daemon with instances a and b made from the test
// image, both stopped.
func startPair(t *testing.T, extra ...string) *env {
	t.Helper()
	e := startDaemon(t, extra...)
	e.image("test.tar.gz", false, nil)
	for _, n := range []string{"a", "b", "c"} {
		e.ok("new", n, "test.tar.gz")
	}
	return e
}

func TestSwitchKeepsTheInstanceResident(t *testing.T) {
	e := startPair(t)
	e.ok("switch", "a") // nothing in front: boots a
	e.waitReport("a")
	e.ctl("a", "fork 3")
	e.waitFor("a's children", func() bool { return len(e.sortedProcs("a")) == 4 })
	e.count("a") // starts the counter
	time.Sleep(50 * time.Millisecond)
	pidA, ticks1 := e.count("a")
	if ticks1 == 0 {
		t.Fatal("a's counter does not count")
	}
	procsA := e.sortedProcs("a")
	hostPidA := e.state("a").Pid

	e.ok("switch", "b") // a resident, b booted
	e.waitReport("b")
	if st := e.state("a"); st.State != "resident" || st.Pid == 0 {
		t.Fatalf("after switch b, ls says a is %+v, want resident", st)
	}
	if st := e.state("b"); st.State != "running" {
		t.Fatalf("after switch b, ls says b is %+v, want running", st)
	}
	if got := e.frozenEvent("a"); got != "1" {
		t.Fatalf("a's cgroup.events says frozen %s while resident", got)
	}
	// Frozen: a command sent to a's init waits in the FIFO, unanswered.
	// Opened read-write, the FIFO keeps the command until the init,
	// thawed, opens it again.
	os.Remove(filepath.Join(e.rootfs("a"), "count"))
	fifo, err := os.OpenFile(filepath.Join(e.rootfs("a"), "ctl"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fifo.Close()
	if _, err := fifo.WriteString("count\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(e.rootfs("a"), "count")); err == nil {
		t.Fatal("a's init answered while resident: not frozen")
	}

	// The refusals, each saying what to do.
	e.refused(1, "switch to it first", "exec", "a", "--", "true")
	e.refused(1, "resident", "rm", "a")
	e.refused(1, "resident", "reset", "a")
	e.ok("freeze", "a") // frozen already: nothing to do
	if st := e.state("a"); st.State != "resident" {
		t.Fatalf("freeze of a resident instance made it %s", st.State)
	}

	e.ok("switch", "a") // b resident, a thawed
	if got := e.frozenEvent("a"); got != "0" {
		t.Fatalf("a's cgroup.events says frozen %s after switch a", got)
	}
	if got := e.frozenEvent("b"); got != "1" {
		t.Fatalf("b's cgroup.events says frozen %s while resident", got)
	}
	// The count asked while frozen is answered now, by the same process,
	// its counter going on from where it was.
	e.waitFor("a's answer after the thaw", func() bool {
		_, err := os.Stat(filepath.Join(e.rootfs("a"), "count"))
		return err == nil
	})
	fifo.Close()
	pidA2, ticks2 := e.count("a")
	if pidA2 != pidA || ticks2 < ticks1 {
		t.Fatalf("after A→B→A a's init is pid %d with counter %d; before, pid %d with %d", pidA2, ticks2, pidA, ticks1)
	}
	if got := e.sortedProcs("a"); !slices.Equal(got, procsA) {
		t.Fatalf("a's processes %v, before the round trip %v", got, procsA)
	}
	if st := e.state("a"); st.State != "running" || st.Pid != hostPidA {
		t.Fatalf("after switch a, ls says %+v; its init was pid %d", st, hostPidA)
	}
	if st := e.state("b"); st.State != "resident" {
		t.Fatalf("after switch a, b is %s, want resident", st.State)
	}
	t.Logf("a: init pid %d (%d inside), counter %d before, %d after the round trip; processes %v", hostPidA, pidA, ticks1, ticks2, procsA)

	// stop of a resident instance thaws it and halts it gracefully; the
	// one in front goes on.
	e.ok("stop", "b")
	if _, err := os.Stat(filepath.Join(e.rootfs("b"), "halted")); err != nil {
		t.Fatal("stop of resident b did not let its init handle the halt signal")
	}
	e.groupGone("b")
	if st := e.state("a"); st.State != "running" {
		t.Fatalf("stop of resident b left a %s", st.State)
	}
	e.ok("rm", "b")
}

func TestSwitchWithRunCommitAndPoweroff(t *testing.T) {
	e := startPair(t)
	e.ok("run", "a")
	e.waitReport("a")
	e.boots("b")
	// commit of a resident instance snapshots it, and it stays resident.
	e.ok("commit", "a", "a-snap.tar")
	if st := e.state("a"); st.State != "resident" || e.frozenEvent("a") != "1" {
		t.Fatalf("after commit, a is %s (cgroup frozen %s), want resident", st.State, e.frozenEvent("a"))
	}
	// run keeps its meaning: the one in front (b) is stopped; a comes back.
	e.ok("run", "a")
	if st := e.state("b"); st.State != "stopped" {
		t.Fatalf("run a left b %s, want stopped", st.State)
	}
	if st := e.state("a"); st.State != "running" || e.frozenEvent("a") != "0" {
		t.Fatalf("run of resident a: %s", st.State)
	}
	e.boots("b", "c")
	states := func() string {
		var s []string
		for _, i := range e.list().Instances {
			s = append(s, i.Name+"="+i.State)
		}
		return strings.Join(s, " ")
	}
	if got := states(); got != "a=resident b=resident c=running" {
		t.Fatalf("ls: %s", got)
	}
	// poweroff of a daemon that is not PID 1: every instance stopped
	// gracefully, resident ones too, then the daemon ends.
	for _, n := range []string{"a", "b", "c"} {
		os.Remove(filepath.Join(e.rootfs(n), "halted"))
	}
	e.ok("poweroff")
	select {
	case <-e.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon did not end after poweroff")
	}
	for _, n := range []string{"a", "b", "c"} {
		if _, err := os.Stat(filepath.Join(e.rootfs(n), "halted")); err != nil {
			t.Errorf("poweroff did not stop %s gracefully", n)
		}
		e.groupGone(n)
	}
}

func TestSwitchSurvivesDaemonRestart(t *testing.T) {
	e := startPair(t)
	e.boots("a", "b", "c")
	before := e.list()
	time.Sleep(100 * time.Millisecond) // the console order is written off the switch's path
	e.daemon.Process.Kill()
	<-e.exited
	e.start()
	after := e.list()
	for i, in := range after.Instances {
		if in.State != before.Instances[i].State || in.Pid != before.Instances[i].Pid {
			t.Fatalf("after a daemon restart %s is %s pid %d; before, %s pid %d", in.Name, in.State, in.Pid, before.Instances[i].State, before.Instances[i].Pid)
		}
	}
	// The least recently used one is still known as such.
	e.ok("switch", "a")
	if e.state("a").State != "running" || e.frozenEvent("a") != "0" || e.frozenEvent("c") != "1" {
		t.Fatal("switch after adoption did not move the console")
	}
	e.ok("stop", "a")
	e.ok("stop", "b")
	e.ok("stop", "c")
}

func TestResidentMaxAndMemoryPolicy(t *testing.T) {
	e := startPair(t, "--resident-max", "1")
	e.boots("a", "b")
	e.ok("switch", "c") // a and b resident: one too many; a is older
	e.waitFor("a to be stopped", func() bool { return e.state("a").State == "stopped" })
	if _, err := os.Stat(filepath.Join(e.rootfs("a"), "halted")); err != nil {
		t.Fatal("the resident cap stopped a, but not gracefully")
	}
	if e.state("b").State != "resident" || e.state("c").State != "running" {
		t.Fatalf("after the cap: b %s, c %s", e.state("b").State, e.state("c").State)
	}
	e.logHas("more than --resident-max 1")
	e.ok("stop", "b")
	e.ok("stop", "c")

	// A threshold every machine crosses: free memory under 100%. The
	// resident instance is stopped; the one in front never is.
	m := startPair(t, "--memory-free", "100")
	m.boots("a")
	m.ok("switch", "b")
	m.waitFor("a to be stopped", func() bool { return m.state("a").State == "stopped" })
	time.Sleep(2500 * time.Millisecond) // one more check of the watcher
	if st := m.state("b"); st.State != "running" {
		t.Fatalf("the memory policy touched the instance in front: %s", st.State)
	}
	m.logHas("free memory")
	m.ok("stop", "b")
}

// logHas waits for the daemon's log to contain want.
func (e *env) logHas(want string) {
	e.t.Helper()
	e.waitFor("the log to say "+want, func() bool {
		data, _ := os.ReadFile(filepath.Join(e.root, "log"))
		return strings.Contains(string(data), want)
	})
}
