package reaper_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"initns/reaper"
)

// The test binary is a process of its own: no os/exec here, whose Wait
// would race the reaper for its children's statuses.

// sh forks /bin/sh -c script with no descriptors but stdout (0, 1 and 2
// all out).
func sh(script string, out uintptr) func() (int, error) {
	return func() (int, error) {
		return syscall.ForkExec("/bin/sh", []string{"sh", "-c", script},
			&syscall.ProcAttr{Files: []uintptr{out, out, out}})
	}
}

func devNull(t *testing.T) uintptr {
	t.Helper()
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f.Fd()
}

func wait(t *testing.T, what string, exit <-chan reaper.Exit) reaper.Exit {
	t.Helper()
	select {
	case e := <-exit:
		return e
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no exit status within 10 s", what)
		return reaper.Exit{}
	}
}

// TestForkUnderLock: a child that has exited, and whose SIGCHLD has woken
// the reaper, before StartFunc has recorded its waiter, still has its
// status delivered to that waiter, not dropped as an orphan's.
func TestForkUnderLock(t *testing.T) {
	null := devNull(t)
	orphans := make(chan reaper.Exit, 16)
	reaper.OnOrphan(func(e reaper.Exit) { orphans <- e })
	defer reaper.OnOrphan(nil)
	pid, exit, err := reaper.StartFunc(func() (int, error) {
		pid, err := sh("exit 7", null)()
		if err != nil {
			return 0, err
		}
		// Wait until the child is a zombie (WNOWAIT leaves it so), then
		// give the reaper, woken by its SIGCHLD, time to try to reap it.
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
			t.Errorf("waitid: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
		return pid, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e := wait(t, "the child that exited first", exit)
	if e.Pid != pid || !e.Status.Exited() || e.Status.ExitStatus() != 7 {
		t.Errorf("got %+v (%v), want pid %d exited 7", e, e, pid)
	}
	select {
	case o := <-orphans:
		t.Errorf("the waited child went to the orphans: %+v", o)
	default:
	}
}

// TestManyChildren: many children started at once from several goroutines
// each get their own status, exactly once, however the kernel coalesces
// their SIGCHLDs.
func TestManyChildren(t *testing.T) {
	null := devNull(t)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			type started struct {
				pid, code int
				exit      <-chan reaper.Exit
			}
			var mine []started
			for i := g; i < n; i += 8 {
				code := i % 250
				pid, exit, err := reaper.StartFunc(sh("exit "+strconv.Itoa(code), null))
				if err != nil {
					errs <- err.Error()
					return
				}
				mine = append(mine, started{pid, code, exit})
			}
			for _, s := range mine {
				select {
				case e := <-s.exit:
					if e.Pid != s.pid || !e.Status.Exited() || e.Status.ExitStatus() != s.code {
						errs <- "pid " + strconv.Itoa(s.pid) + ": got " + e.String() + ", want exited " + strconv.Itoa(s.code)
					}
				case <-time.After(20 * time.Second):
					errs <- "pid " + strconv.Itoa(s.pid) + ": no exit status"
				}
				select {
				case e := <-s.exit:
					errs <- "pid " + strconv.Itoa(s.pid) + ": a second status " + e.String()
				default:
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestOrphan: a grandchild re-parented to this process (a subreaper, as
// PID 1 is for the whole machine) is reaped and handed to OnOrphan, while
// a waited child that outlives it keeps its own status.
func TestOrphan(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	null := devNull(t)
	orphans := make(chan reaper.Exit, 16)
	reaper.OnOrphan(func(e reaper.Exit) { orphans <- e })
	defer reaper.OnOrphan(nil)

	wpid, wexit, err := reaper.StartFunc(sh("sleep 0.3; exit 3", null))
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The middle shell prints its child's pid and exits: the child, which
	// exits 5, is nobody's to wait for.
	mpid, mexit, err := reaper.StartFunc(sh(`sh -c "sleep 0.1; exit 5" & echo $!`, w.Fd()))
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("the orphan's pid: %v", err)
	}
	opid, _ := strconv.Atoi(strings.TrimSpace(line))
	if e := wait(t, "the middle shell", mexit); e.Pid != mpid || e.String() != "exited 0" {
		t.Errorf("middle shell: got pid %d %v, want pid %d exited 0", e.Pid, e, mpid)
	}
	select {
	case o := <-orphans:
		if o.Pid != opid || o.String() != "exited 5" {
			t.Errorf("orphan: got pid %d %v, want pid %d exited 5", o.Pid, o, opid)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the orphan %d was not handed to OnOrphan", opid)
	}
	if e := wait(t, "the waited child", wexit); e.Pid != wpid || e.String() != "exited 3" {
		t.Errorf("waited child: got pid %d %v, want pid %d exited 3", e.Pid, e, wpid)
	}
	select {
	case o := <-orphans:
		t.Errorf("a second orphan: %+v", o)
	default:
	}
	var ws unix.WaitStatus
	if pid, err := unix.Wait4(opid, &ws, unix.WNOHANG, nil); err != unix.ECHILD {
		t.Errorf("wait4(%d) = %d, %v: the orphan was left a zombie", opid, pid, err)
	}
}

// TestStartError: a fork that fails leaves no waiter behind and says why.
func TestStartError(t *testing.T) {
	_, _, err := reaper.Start("/nonexistent/program", []string{"x"}, &syscall.ProcAttr{})
	if err != syscall.ENOENT {
		t.Errorf("err = %v, want ENOENT", err)
	}
}

func TestExitString(t *testing.T) {
	for _, c := range []struct {
		ws   unix.WaitStatus
		want string
	}{
		{0, "exited 0"},
		{3 << 8, "exited 3"},
		{unix.WaitStatus(unix.SIGKILL), "killed by SIGKILL"},
		{unix.WaitStatus(unix.SIGHUP), "killed by SIGHUP"},
		{0x137f, "status 0x137f"}, // stopped by SIGSTOP
	} {
		if got := (reaper.Exit{Status: c.ws}).String(); got != c.want {
			t.Errorf("%#x: %q, want %q", uint32(c.ws), got, c.want)
		}
	}
}
