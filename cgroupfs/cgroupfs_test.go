package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCgroup2Mount reads a mountinfo table: optional fields skipped, the
// first cgroup2 mount taken, its point unescaped.
func TestCgroup2Mount(t *testing.T) {
	in := `25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate
40 25 0:30 / /mnt/a\040b rw - tmpfs tmpfs rw
41 25 0:31 / /mnt/c\040d rw - cgroup2 cgroup2 rw
`
	if got, err := cgroup2Mount(strings.NewReader(in)); err != nil || got != "/sys/fs/cgroup/unified" {
		t.Fatalf("cgroup2Mount = %q, %v; want /sys/fs/cgroup/unified", got, err)
	}
	escaped := in[strings.Index(in, "40 "):]
	if got, err := cgroup2Mount(strings.NewReader(escaped)); err != nil || got != "/mnt/c d" {
		t.Fatalf("escaped point = %q, %v; want \"/mnt/c d\"", got, err)
	}
	if _, err := cgroup2Mount(strings.NewReader(in[:strings.Index(in, "33 ")])); !errors.Is(err, ErrNoCgroup2) {
		t.Fatalf("no cgroup2 mounted: %v, want ErrNoCgroup2", err)
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
