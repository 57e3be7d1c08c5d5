package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"initns/cgroupfs"
)

// frozenProbe is a screens that records, at each call, whether the
// instance's cgroup was frozen: the order of the console's move and the
// freezer that the switch promises.
type frozenProbe struct {
	group          *cgroupfs.Group
	left, arrived  []bool
	leaveErr, aErr error
}

func (p *frozenProbe) Leave(string, any) any {
	f, err := p.group.Frozen()
	p.left, p.leaveErr = append(p.left, f), err
	return "screen"
}

func (p *frozenProbe) Arrive(string, any) {
	f, err := p.group.Frozen()
	p.arrived, p.aErr = append(p.arrived, f), err
}

// groupWithProcess makes a cgroup of the test's own with a sleeping
// process in it, removed when the test ends.
func groupWithProcess(t *testing.T) *cgroupfs.Group {
	t.Helper()
	mnt, err := cgroupfs.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	parent, err := cgroupfs.OpenParent(filepath.Join(mnt, fmt.Sprintf("initns-test-%d-%s", os.Getpid(), t.Name())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { (&cgroupfs.Group{Path: parent.Path}).Remove() })
	g := parent.Group("a")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Destroy(freezeTimeout)
		sleep.Process.Kill() // if it never joined the group
		sleep.Wait()
	})
	if err := os.WriteFile(filepath.Join(g.Path, "cgroup.procs"), []byte(strconv.Itoa(sleep.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestConsoleMovesWhileFrozen: a switch records the console of the
// instance it leaves while that instance still runs (a display server
// must answer the release), and puts the arriving instance's console back
// while it is still frozen, so nothing it draws as it wakes races the
// restore of its screen; it thaws after. A real cgroup with a process in
// it.
func TestConsoleMovesWhileFrozen(t *testing.T) {
	g := groupWithProcess(t)
	probe := &frozenProbe{group: g}
	b := &boot{name: "a", group: g}
	d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil)), resident: map[string]*boot{}, screens: probe, active: b}
	if err := d.park(b, nil); err != nil {
		t.Fatal(err)
	}
	if f, _ := g.Frozen(); !f || d.resident["a"] != b || d.active != nil {
		t.Fatalf("after park: frozen %v, resident %v, active %v", f, d.resident["a"], d.active)
	}
	if err := d.resume(b); err != nil {
		t.Fatal(err)
	}
	if f, _ := g.Frozen(); f || d.active != b || d.resident["a"] != nil {
		t.Fatalf("after resume: frozen %v, active %v, resident %v", f, d.active, d.resident["a"])
	}
	if probe.leaveErr != nil || probe.aErr != nil {
		t.Fatalf("read cgroup.events: %v %v", probe.leaveErr, probe.aErr)
	}
	if len(probe.left) != 1 || probe.left[0] {
		t.Errorf("Leave saw the departing instance frozen %v, want once, running", probe.left)
	}
	if len(probe.arrived) != 1 || !probe.arrived[0] {
		t.Errorf("Arrive saw the arriving instance frozen %v, want once, still frozen", probe.arrived)
	}
}

// TestFailedThawGivesTheConsoleBack: when the arriving instance cannot be
// thawed, the one the switch put aside thaws and gets the console back,
// rather than the console being left to a frozen system.
func TestFailedThawGivesTheConsoleBack(t *testing.T) {
	g := groupWithProcess(t)
	b := &boot{name: "a", group: g}
	gone := &boot{name: "b", group: &cgroupfs.Group{Path: filepath.Join(t.TempDir(), "no-cgroup")}}
	d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil)), resident: map[string]*boot{"b": gone}, screens: noScreens{}, active: b}
	for _, s := range planSwitch("a", false, "b", true) {
		if err := d.runStep(s, b, gone, "b", "switch"); err != nil {
			if s != stepResume {
				t.Fatalf("step %v failed: %v", s, err)
			}
			break
		}
		if s == stepResume {
			t.Fatal("the thaw of an instance without a cgroup succeeded")
		}
	}
	if f, _ := g.Frozen(); f || d.active != b || d.resident["a"] != nil {
		t.Fatalf("after the failed switch, a is frozen %v, active %v, resident %v; want it back in front", f, d.active, d.resident["a"])
	}
}
