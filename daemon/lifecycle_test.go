package daemon_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestInitSeesItselfAsPID1(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, nil)
	e.ok("new", "box", "test.tar.gz")
	e.ok("run", "box")
	r := e.waitReport("box")
	host, _ := os.Readlink("/proc/self/ns/mnt")
	hostPid, _ := os.Readlink("/proc/self/ns/pid")
	hostCg, _ := os.Readlink("/proc/self/ns/cgroup")
	switch {
	case r.Pid != 1 || r.Ppid != 0:
		t.Errorf("init pid %d ppid %d, want 1 and 0", r.Pid, r.Ppid)
	case r.MntNS == host || r.MntNS == "":
		t.Errorf("init's mount namespace %q is the host's %q", r.MntNS, host)
	case r.PidNS == hostPid || r.CgroupNS == hostCg:
		t.Errorf("init shares the host's pid or cgroup namespace")
	case !slices.Contains(strings.Split(r.Cgroup, "\n"), "0::/"):
		t.Errorf("init's cgroup %q, want 0::/, the root of its own cgroup namespace", r.Cgroup)
	}
	if strings.Join(r.Env, " ") != "HOME=/ TERM=linux container=" {
		t.Errorf("init's environment %q, want the kernel's HOME=/ TERM=linux, and container= (not a container)", r.Env)
	}
	for _, fd := range r.FDs {
		num, target, _ := strings.Cut(fd, " ")
		n, _ := strconv.Atoi(num)
		// 0-2 are the console; the Go runtime of the test init opens its
		// own epoll and eventfd, and ReadDir's descriptor shows no target.
		if (n <= 2 && target != e.console) || (n > 2 && target != "" && !strings.HasPrefix(target, "anon_inode:")) {
			t.Errorf("init has descriptor %s; want only the console on 0-2 and nothing of the daemon's", fd)
		}
	}
	if r.SigBlk != "0000000000000000" || r.SigIgn != "0000000000000000" {
		t.Errorf("init's signal mask %s ignored %s, want none", r.SigBlk, r.SigIgn)
	}
	st := e.state("box")
	if st.State != "running" || st.Pid == 0 {
		t.Fatalf("ls says %+v", st)
	}
	procs, err := os.ReadFile(filepath.Join(e.cgroup, "box", "cgroup.procs"))
	if err != nil || !strings.Contains(string(procs), strconv.Itoa(st.Pid)) {
		t.Fatalf("init %d not in the instance's cgroup: %q %v", st.Pid, procs, err)
	}
	e.ok("stop", "box", "--kill")
	e.groupGone("box")
}

func TestStopGracefulAndForced(t *testing.T) {
	e := startDaemon(t)
	e.image("obeys.tar.gz", false, nil)
	e.image("stubborn.tar.gz", false, map[string]string{"ignore-halt": ""})
	e.ok("new", "obeys", "obeys.tar.gz")
	e.ok("new", "stubborn", "stubborn.tar.gz")

	e.ok("run", "obeys")
	e.waitReport("obeys")
	e.ok("stop", "obeys")
	if _, err := os.Stat(filepath.Join(e.rootfs("obeys"), "halted")); err != nil {
		t.Fatal("graceful stop did not let init handle the halt signal")
	}
	if st := e.state("obeys"); st.State != "stopped" || st.Ended != "exited 0" {
		t.Fatalf("after graceful stop: %+v", st)
	}
	e.groupGone("obeys")

	e.ok("run", "stubborn")
	e.waitReport("stubborn")
	start := time.Now()
	e.ok("stop", "stubborn", "--timeout", "300ms")
	if time.Since(start) < 300*time.Millisecond {
		t.Fatal("stop of an init that ignores the halt signal did not wait for the timeout")
	}
	if st := e.state("stubborn"); st.State != "stopped" || st.Ended != "killed by SIGKILL" {
		t.Fatalf("after forced stop: %+v", st)
	}
	e.groupGone("stubborn")

	// --kill ends init and everything it started at once.
	e.ok("run", "stubborn")
	e.waitReport("stubborn")
	e.ctl("stubborn", "fork 100")
	e.waitFor("100 children", func() bool {
		_, err := os.Stat(filepath.Join(e.rootfs("stubborn"), "forked"))
		return err == nil
	})
	e.ok("stop", "stubborn", "--kill")
	e.groupGone("stubborn")
}

func TestPreemption(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, nil)
	e.ok("new", "a", "test.tar.gz")
	e.ok("new", "b", "test.tar.gz")
	e.ok("run", "a")
	e.waitReport("a")
	e.ok("run", "b")
	e.waitReport("b")
	if _, err := os.Stat(filepath.Join(e.rootfs("a"), "halted")); err != nil {
		t.Fatal("run b did not stop a gracefully")
	}
	if a, b := e.state("a"), e.state("b"); a.State != "stopped" || b.State != "running" {
		t.Fatalf("after run b: a %s, b %s", a.State, b.State)
	}
	e.groupGone("a")
	e.ok("run", "b") // already running: nothing to do
	if e.state("b").State != "running" {
		t.Fatal("run of the running instance changed it")
	}
}

func TestInstanceRebootAndPoweroff(t *testing.T) {
	e := startBox(t)
	first := e.state("box").Pid
	e.ctl("box", "reboot")
	e.waitReport("box")
	boots, _ := os.ReadFile(filepath.Join(e.rootfs("box"), "boots"))
	if n := strings.Count(string(boots), "\n"); n != 2 {
		t.Fatalf("boots = %d after an in-instance reboot, want 2", n)
	}
	if st := e.state("box"); st.State != "running" || st.Pid == first {
		t.Fatalf("after reboot: %+v (first pid %d)", st, first)
	}
	e.ctl("box", "poweroff")
	e.waitEnded("box", "powered off")
}

func TestInitExitsOnItsOwn(t *testing.T) {
	e := startBox(t)
	e.ctl("box", "exit 3")
	e.waitEnded("box", "exited 3")
}

func TestRunWithoutInitFails(t *testing.T) {
	e := startDaemon(t)
	e.image("noinit.tar.gz", true, nil)
	e.ok("new", "bare", "noinit.tar.gz")
	e.refused(1, "no /sbin/init", "run", "bare")
	if st := e.state("bare"); st.State != "stopped" {
		t.Fatalf("after a failed run: %+v", st)
	}
	e.groupGone("bare")
}

func TestFreezeAndThaw(t *testing.T) {
	e := startBox(t)
	e.ok("freeze", "box")
	events := func() string {
		data, _ := os.ReadFile(filepath.Join(e.cgroup, "box", "cgroup.events"))
		return string(data)
	}
	if !strings.Contains(events(), "frozen 1") || e.state("box").State != "frozen" {
		t.Fatalf("after freeze: events %q, ls %+v", events(), e.state("box"))
	}
	e.ok("run", "box")
	if !strings.Contains(events(), "frozen 0") || e.state("box").State != "running" {
		t.Fatalf("after run of the frozen instance: events %q", events())
	}
	// A frozen instance still stops gracefully: it is thawed first.
	e.ok("freeze", "box")
	e.ok("stop", "box")
	if _, err := os.Stat(filepath.Join(e.rootfs("box"), "halted")); err != nil {
		t.Fatal("stop of a frozen instance did not thaw it and let init halt")
	}
	e.groupGone("box")
}

func TestAdoptionAfterDaemonRestart(t *testing.T) {
	e := startBox(t)
	pid := e.state("box").Pid
	restart := func() {
		e.daemon.Process.Kill()
		<-e.exited
		e.start()
	}
	restart()
	if st := e.state("box"); st.State != "running" || st.Pid != pid {
		t.Fatalf("after restart: %+v, want running with pid %d", st, pid)
	}
	e.ok("freeze", "box")
	restart()
	if st := e.state("box"); st.State != "frozen" {
		t.Fatalf("after restart while frozen: %+v", st)
	}
	e.ok("run", "box") // thaws
	e.ok("stop", "box")
	if _, err := os.Stat(filepath.Join(e.rootfs("box"), "halted")); err != nil {
		t.Fatal("the adopted instance was not stopped gracefully")
	}
	e.groupGone("box")
	// An adopted instance that exits on its own is noticed too.
	e.ok("run", "box")
	e.waitReport("box")
	restart()
	e.ctl("box", "exit 0")
	e.waitEnded("box", "exited (adopted: status unknown)")
}

func TestExec(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, nil)
	e.ok("new", "box", "test.tar.gz")
	e.refused(1, "not running", "exec", "box", "--", "/bin/busybox", "true")
	e.ok("run", "box")
	e.waitReport("box")
	// The command sees the instance's root, PID namespace and cgroup.
	out := e.ok("exec", "box", "--", "/bin/busybox", "sh", "-c", "ls /; echo pid=$$; cat /proc/self/cgroup")
	for _, want := range []string{"boots", "ctl", "0::/"} {
		if !strings.Contains(out, want) {
			t.Fatalf("exec output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pid=1\n") || !strings.Contains(out, "pid=") {
		t.Fatalf("exec's pid inside the instance:\n%s", out)
	}
	// Its exit status is the client's; PATH is searched inside the instance.
	if r := e.client("exec", "box", "--", "sh", "-c", "exit 42"); r.code != 42 {
		t.Fatalf("exit status %d (%s), want 42", r.code, r.stderr)
	}
	e.refused(127, "command not found", "exec", "box", "--", "/no/such/program")
	execInterrupted(e)
	e.ok("freeze", "box")
	e.refused(1, "frozen", "exec", "box", "--", "sh", "-c", "true")
	e.ok("run", "box")
	e.ok("stop", "box")
	e.groupGone("box")
}

// execInterrupted: Ctrl+C ends an exec client at once, even while it
// waits for the daemon's answer, and the daemon then ends the command.
func execInterrupted(e *env) {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, "initns"), "--socket", e.sock, "exec", "box", "--", "sh", "-c", "echo $$; exec sleep 1000")
	out, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	pid, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		e.t.Fatalf("exec's command printed no pid: %v", err)
	}
	cmd.Process.Signal(os.Interrupt)
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		e.t.Fatal("exec client still running 10 s after SIGINT")
	}
	alive := "kill -0 " + strings.TrimSpace(pid)
	for deadline := time.Now().Add(10 * time.Second); e.client("exec", "box", "--", "sh", "-c", alive).code == 0; {
		if time.Now().After(deadline) {
			e.t.Fatalf("exec's command (pid %s in the instance) still runs after its client ended", strings.TrimSpace(pid))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPoweroffAndRebootEndTheDaemon: not PID 1, poweroff and reboot stop
// the instance gracefully and end the daemon; the machine is left alone.
func TestPoweroffAndRebootEndTheDaemon(t *testing.T) {
	for _, how := range []string{"poweroff", "reboot"} {
		t.Run(how, func(t *testing.T) {
			e := startDaemon(t)
			e.image("test.tar.gz", false, nil)
			e.ok("new", "box", "test.tar.gz")
			e.ok("run", "box")
			e.waitReport("box")
			e.ok(how)
			select {
			case <-e.exited:
			case <-time.After(20 * time.Second):
				t.Fatalf("the daemon did not end after %s", how)
			}
			if code := e.daemon.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("daemon exit status %d", code)
			}
			if _, err := os.Stat(filepath.Join(e.rootfs("box"), "halted")); err != nil {
				t.Fatal("the instance was not stopped gracefully")
			}
			if _, err := os.Stat(e.sock); !os.IsNotExist(err) {
				t.Fatalf("socket left behind: %v", err)
			}
			e.groupGone("box")
		})
	}
}
