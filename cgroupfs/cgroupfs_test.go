package cgroupfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseMountinfo(t *testing.T) {
	in := `25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate
40 25 0:30 / /mnt/a\040b rw - tmpfs tmpfs rw
`
	mounts, err := ParseMountinfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 3 || mounts[1].FSType != "cgroup2" || mounts[1].Point != "/sys/fs/cgroup/unified" {
		t.Fatalf("mounts = %+v", mounts)
	}
	if mounts[2].Point != "/mnt/a b" {
		t.Fatalf("escaped point = %q", mounts[2].Point)
	}
}

func TestParseEvents(t *testing.T) {
	ev := ParseEvents(strings.NewReader("populated 1\nfrozen 0\n"))
	if ev["populated"] != "1" || ev["frozen"] != "0" {
		t.Fatalf("events = %v", ev)
	}
}

// testParent makes a parent cgroup of the test's own under the real cgroup2
// mount, removed at the end.
func testParent(t *testing.T) *Parent {
	t.Helper()
	mnt, err := FindMount()
	if err != nil {
		t.Fatal(err)
	}
	p, err := OpenParent(filepath.Join(mnt, fmt.Sprintf("initns-test-%d-%s", os.Getpid(), t.Name())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range must(p.Children()) {
			p.Group(c).Destroy(5 * time.Second)
		}
		os.Remove(p.Path)
	})
	return p
}

func must[T any](v T, _ error) T { return v }

// startIn starts sleep inside the group through CLONE_INTO_CGROUP.
func startIn(t *testing.T, g *Group) *exec.Cmd {
	t.Helper()
	fd, err := g.OpenDir()
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	return cmd
}

func TestFreezeThawKillRemove(t *testing.T) {
	p := testParent(t)
	g := p.Group("box")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	cmd := startIn(t, g)
	if pids := g.Pids(); len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Fatalf("pids = %v, want [%d]", pids, cmd.Process.Pid)
	}
	if err := g.Freeze(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if frozen, _ := g.Frozen(); !frozen {
		t.Fatal("cgroup.events does not say frozen 1 after Freeze")
	}
	if st := procState(cmd.Process.Pid); st != "S" && st != "D" {
		t.Logf("frozen task state %q", st)
	}
	if err := g.Thaw(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if frozen, _ := g.Frozen(); frozen {
		t.Fatal("still frozen after Thaw")
	}
	if err := g.Destroy(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if g.Exists() {
		t.Fatal("cgroup still exists after Destroy")
	}
}

func TestCreateReplacesStaleCgroup(t *testing.T) {
	p := testParent(t)
	g := p.Group("stale")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	old := startIn(t, g)
	// A nested cgroup, as an instance's own systemd would make.
	if err := os.Mkdir(filepath.Join(g.Path, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	if len(g.Pids()) != 0 {
		t.Fatalf("fresh cgroup has tasks %v", g.Pids())
	}
	if syscall.Kill(old.Process.Pid, 0) == nil && procState(old.Process.Pid) != "Z" {
		t.Fatal("task of the stale cgroup survived")
	}
}

func TestWaitEmptyTimesOutWithTaskNames(t *testing.T) {
	p := testParent(t)
	g := p.Group("busy")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	startIn(t, g)
	err := g.WaitEmpty(50 * time.Millisecond)
	if err == nil {
		t.Fatal("WaitEmpty returned with a task inside")
	}
	if tasks := g.Tasks(); len(tasks) != 1 || !strings.Contains(tasks[0], "(sleep)") {
		t.Fatalf("tasks = %v", tasks)
	}
}

func procState(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return s[i+2 : i+3]
}
