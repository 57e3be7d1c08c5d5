package daemon_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Instance faults: whatever an instance's init does, stop, freeze and run
// still work and leave no cgroup behind.

func TestInitWithAThousandProcesses(t *testing.T) {
	e := startBox(t)
	e.ctl("box", "fork 1000")
	e.waitFor("1000 children", func() bool {
		_, err := os.Stat(filepath.Join(e.rootfs("box"), "forked"))
		return err == nil
	})
	if n := len(e.procs("box")); n < 1001 {
		t.Fatalf("%d processes in the cgroup, want 1001", n)
	}
	e.ok("freeze", "box")
	e.ok("run", "box")
	e.ok("stop", "box")
	e.groupGone("box")
}

func TestInitIgnoringEverySignal(t *testing.T) {
	e := startDaemon(t)
	e.image("deaf.tar.gz", false, map[string]string{"ignore-halt": ""})
	e.ok("new", "deaf", "deaf.tar.gz")
	e.ok("run", "deaf")
	e.waitReport("deaf")
	e.ok("freeze", "deaf") // the freezer needs no signal
	if e.state("deaf").State != "frozen" {
		t.Fatal("not frozen")
	}
	e.ok("run", "deaf")
	e.ok("stop", "deaf", "--timeout", "200ms")
	if st := e.state("deaf"); st.Ended != "killed by SIGKILL" {
		t.Fatalf("ended %q", st.Ended)
	}
	e.groupGone("deaf")
}

func TestInitExitingAtOnce(t *testing.T) {
	e := startDaemon(t)
	e.image("brief.tar.gz", true, map[string]string{"sbin/init": "#!/bin/sh\nexit 7\n"})
	e.ok("new", "brief", "brief.tar.gz")
	os.Chmod(filepath.Join(e.rootfs("brief"), "sbin/init"), 0o755)
	for i := 0; i < 3; i++ {
		e.ok("run", "brief")
		e.waitEnded("brief", "exited 7")
	}
	e.refused(1, "not running", "stop", "brief")
}

func TestInitFreezingItself(t *testing.T) {
	e := startBox(t)
	e.ctl("box", "freeze-self")
	e.waitFor("the instance to freeze itself", func() bool {
		data, _ := os.ReadFile(filepath.Join(e.cgroup, "box", "cgroup.events"))
		return strings.Contains(string(data), "frozen 1")
	})
	// A graceful stop thaws it first, so its init can take the halt signal.
	e.ok("stop", "box")
	if _, err := os.Stat(filepath.Join(e.rootfs("box"), "halted")); err != nil {
		t.Fatal("the self-frozen instance was not thawed and halted")
	}
	e.groupGone("box")
}

// TestUnkillableInstance: a task SIGKILL cannot end (here frozen by the
// host's cgroup v1 freezer) gives stop an error naming it, and the daemon
// keeps serving; once it is released, the next stop works.
func TestUnkillableInstance(t *testing.T) {
	e := startBox(t)
	v1 := filepath.Join("/sys/fs/cgroup/freezer", fmt.Sprintf("initns-test-%d", os.Getpid()))
	if err := os.Mkdir(v1, 0o755); err != nil {
		t.Fatalf("cgroup v1 freezer (this host is hybrid): %v", err)
	}
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(v1, "freezer.state"), []byte("THAWED"), 0)
		time.Sleep(100 * time.Millisecond)
		os.Remove(v1)
	})
	pid := e.state("box").Pid
	must(t, os.WriteFile(filepath.Join(v1, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0))
	must(t, os.WriteFile(filepath.Join(v1, "freezer.state"), []byte("FROZEN"), 0))

	r := e.client("stop", "box", "--kill")
	if r.code != 1 || !strings.Contains(r.stderr, "did not end") || !strings.Contains(r.stderr, strconv.Itoa(pid)) {
		t.Fatalf("stop of an unkillable instance: exit %d, %q", r.code, r.stderr)
	}
	e.ok("ls") // still serving
	must(t, os.WriteFile(filepath.Join(v1, "freezer.state"), []byte("THAWED"), 0))
	e.waitEnded("box", "")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// procs lists the processes in an instance's cgroup tree.
func (e *env) procs(name string) []string {
	var all []string
	filepath.Walk(filepath.Join(e.cgroup, name), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Name() == "cgroup.procs" {
			data, _ := os.ReadFile(p)
			all = append(all, strings.Fields(string(data))...)
		}
		return nil
	})
	return all
}
