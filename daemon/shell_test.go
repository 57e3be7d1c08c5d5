package daemon_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"initns/internal/ptytest"
)

// The terminal tests drive the real client the way a person does: on a
// pseudo-terminal the test makes (the person's terminal, say tmux's), the
// client its session's leader, keys written to the master.

// userTerm is the person's terminal with the client running on it.
type userTerm struct {
	t      *testing.T
	master *os.File
	slave  *os.File
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	out    bytes.Buffer // everything shown on the terminal
	seen   int          // how much of out expect has consumed
	before unix.Termios // the terminal's modes before the client started
}

// openTerm makes a pseudo-terminal of the host's, rows x cols.
func openTerm(t *testing.T, rows, cols uint16) (master, slave *os.File) {
	t.Helper()
	master, path := ptytest.Open(t)
	slave, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	return master, slave
}

// onTerm starts the client with args on a new terminal, as a shell in a
// terminal window starts a command: in a session of its own whose
// controlling terminal that is.
func (e *env) onTerm(args ...string) *userTerm {
	e.t.Helper()
	t := e.t.(*testing.T)
	master, slave := openTerm(t, 24, 80)
	u := &userTerm{t: t, master: master, slave: slave, exited: make(chan struct{})}
	u.before = u.termios()
	u.cmd = exec.Command(filepath.Join(e.bin, "initns"), append([]string{"--socket", e.sock}, args...)...)
	u.cmd.Stdin, u.cmd.Stdout, u.cmd.Stderr = slave, slave, slave
	u.cmd.Env = append(os.Environ(), "TERM=xterm-test")
	u.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			u.mu.Lock()
			u.out.Write(buf[:n])
			u.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { u.cmd.Wait(); close(u.exited) }()
	t.Cleanup(func() {
		u.cmd.Process.Kill()
		<-u.exited
		if t.Failed() {
			t.Logf("the terminal showed:\n%s", u.shown())
		}
	})
	return u
}

func (u *userTerm) shown() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.out.String()
}

// type_ writes keys on the terminal.
func (u *userTerm) type_(keys string) {
	u.t.Helper()
	if _, err := u.master.Write([]byte(keys)); err != nil {
		u.t.Fatal(err)
	}
}

// expect waits until the terminal shows want after what earlier expects
// consumed, and consumes up to it.
func (u *userTerm) expect(want string) {
	u.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		u.mu.Lock()
		i := strings.Index(u.out.String()[u.seen:], want)
		if i >= 0 {
			u.seen += i + len(want)
		}
		u.mu.Unlock()
		if i >= 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	u.t.Fatalf("the terminal never showed %q; after the last match it shows:\n%s", want, u.shown()[u.seen:])
}

// wait waits for the client to exit and returns its status.
func (u *userTerm) wait() int {
	u.t.Helper()
	select {
	case <-u.exited:
	case <-time.After(20 * time.Second):
		u.t.Fatal("the client did not exit")
	}
	return u.cmd.ProcessState.ExitCode()
}

// termios is the terminal's mode, as the person's shell would leave it.
func (u *userTerm) termios() unix.Termios {
	u.t.Helper()
	tio, err := unix.IoctlGetTermios(int(u.slave.Fd()), unix.TCGETS)
	if err != nil {
		u.t.Fatal(err)
	}
	return *tio
}

// withDevpts starts box and mounts a devpts on its /dev/pts, as every
// real init does (the test init does not).
func withDevpts(t *testing.T) *env {
	e := startDaemon(t)
	e.image("test.tar.gz", false, map[string]string{
		"etc/passwd":        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n",
		"etc/group":         "root:x:0:\nalice:x:1000:\naudio:x:29:bob,alice\nvideo:x:44:bob\n",
		"home/alice/.keep":  "",
		"root/.keep":        "",
		"usr/bin/notaprog":  "just text",
		"srv/data/file.txt": "data",
	})
	e.ok("new", "box", "test.tar.gz")
	os.Chmod(filepath.Join(e.rootfs("box"), "usr/bin/notaprog"), 0o644)
	os.Chown(filepath.Join(e.rootfs("box"), "home/alice"), 1000, 1000)
	e.ok("run", "box")
	e.waitReport("box")
	e.ok("exec", "box", "--", "busybox", "mount", "-t", "devpts", "devpts", "/dev/pts")
	return e
}

// sessionProcs lists the commands running in exec's leaf of box.
func (e *env) sessionProcs() string {
	data, _ := os.ReadFile(filepath.Join(e.cgroup, "box", "initns.exec", "cgroup.procs"))
	var out []string
	for _, pid := range strings.Fields(string(data)) {
		comm, err1 := os.ReadFile("/proc/" + pid + "/comm")
		state, err2 := os.ReadFile("/proc/" + pid + "/stat")
		end := bytes.LastIndexByte(state, ')')
		if err1 != nil || err2 != nil || end < 0 {
			continue // ended meanwhile
		}
		f := strings.Fields(string(state[end+1:]))
		out = append(out, strings.TrimSpace(string(comm))+":"+f[0])
	}
	return strings.Join(out, " ")
}

// TestShellOnATerminal: exec on a person's terminal gives the command a
// terminal of the instance's own, with job control, the keys that make
// signals, window size, its exit status, and the person's terminal
// restored afterwards.
func TestShellOnATerminal(t *testing.T) {
	e := withDevpts(t)
	u := e.onTerm("exec", "box", "--", "sh")
	u.expect("# ")
	if u.termios() == u.before {
		t.Fatal("the client did not put the terminal in raw mode")
	}
	// A terminal of the instance's own devpts, the session's controlling
	// terminal: the shell has job control, and the client's TERM.
	u.type_("tty; echo T=$TERM; busybox readlink /proc/self/fd/0; busybox grep -c devpts /proc/mounts\n")
	u.expect("T=xterm-test")
	if out := u.shown(); strings.Contains(out, "can't access tty") || !strings.Contains(out, "/dev/pts/0") {
		t.Fatalf("the shell has no terminal of its own: %q", out)
	}
	// Ctrl+C interrupts the foreground job, not the client.
	u.type_("busybox sleep 100; echo not-interrupted\n")
	e.waitFor("sleep to run", func() bool { return strings.Contains(e.sessionProcs(), "busybox:S") }, e.sessionProcs)
	u.type_("\x03")
	u.type_("echo alive-$((20+22))\n")
	u.expect("alive-42")
	if strings.Contains(u.shown(), "\nnot-interrupted") {
		t.Fatal("Ctrl+C did not interrupt the command list")
	}
	// Ctrl+Z stops it, fg brings it back, Ctrl+\ quits it.
	u.type_("busybox sleep 100\n")
	e.waitFor("sleep to run", func() bool { return strings.Contains(e.sessionProcs(), "busybox:S") }, e.sessionProcs)
	u.type_("\x1a")
	e.waitFor("Ctrl+Z to stop sleep", func() bool { return strings.Contains(e.sessionProcs(), "busybox:T") }, e.sessionProcs)
	u.expect("Stopped")
	u.type_("fg\n")
	e.waitFor("fg to resume sleep", func() bool { return strings.Contains(e.sessionProcs(), "busybox:S") }, e.sessionProcs)
	u.type_("\x1c")
	u.type_("echo back-$((2+3))\n")
	u.expect("back-5")
	// The window size follows the person's terminal.
	u.type_("stty size\n")
	u.expect("24 80")
	unix.IoctlSetWinsize(int(u.slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 101})
	// SIGWINCH reaches the client, which sets the size on the master: ask
	// until the shell sees it.
	e.waitFor("the new size inside", func() bool {
		u.type_("stty size\n")
		time.Sleep(50 * time.Millisecond)
		return strings.Contains(u.shown(), "33 101\r\n")
	})
	u.expect("33 101\r\n")
	u.type_("exit 7\n")
	if code := u.wait(); code != 7 {
		t.Fatalf("exit 7 ended the client with %d", code)
	}
	if after := u.termios(); after != u.before {
		t.Fatalf("the terminal's modes were not restored:\nbefore %+v\nafter  %+v", u.before, after)
	}
	if procs := e.sessionProcs(); procs != "" {
		t.Fatalf("left in the instance: %s", procs)
	}
}

// TestTerminalHangup: a client that goes away hangs the session up, and
// nothing of it stays in the instance; killed by a signal it can catch,
// it restores the person's terminal first.
func TestTerminalHangup(t *testing.T) {
	e := withDevpts(t)
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM, syscall.SIGHUP} {
		u := e.onTerm("exec", "box", "--", "sh")
		u.expect("# ")
		// A job in the background, one stopped, one in the foreground.
		u.type_("busybox sleep 1001 &\n")
		u.type_("busybox sleep 1002\n")
		e.waitFor("sleep to run", func() bool { return strings.Count(e.sessionProcs(), "busybox:S") == 2 }, e.sessionProcs)
		u.type_("\x1a")
		e.waitFor("Ctrl+Z to stop sleep", func() bool { return strings.Contains(e.sessionProcs(), "busybox:T") }, e.sessionProcs)
		u.type_("busybox sleep 1003\n")
		e.waitFor("sleep to run", func() bool { return strings.Count(e.sessionProcs(), "busybox:S") == 2 }, e.sessionProcs)
		u.cmd.Process.Signal(sig)
		if code := u.wait(); sig != syscall.SIGKILL && code != 128+int(sig) {
			t.Errorf("%v: the client exited %d, want %d", sig, code, 128+int(sig))
		}
		e.waitFor("the session to end", func() bool { return e.sessionProcs() == "" }, e.sessionProcs)
		if after := u.termios(); sig != syscall.SIGKILL && after != u.before {
			t.Errorf("%v: the terminal's modes were not restored", sig)
		}
	}
}

// TestExecOptions: --user, --cwd and --env, the clean environment, 126
// and 127, and a pipe that still works with no terminal.
func TestExecOptions(t *testing.T) {
	e := withDevpts(t)
	// Without a terminal, exec gets the caller's descriptors: a pipe in.
	cmd := exec.Command(filepath.Join(e.bin, "initns"), "--socket", e.sock, "exec", "box", "--", "busybox", "sh", "-c", "cat; busybox readlink /proc/self/fd/0")
	cmd.Stdin = strings.NewReader("x\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "x\npipe:[") {
		t.Fatalf("echo x | initns exec box -- cat: %v: %q", err, out)
	}
	// A clean environment: a login's, with the caller's TERM; --env over it.
	env := e.ok("exec", "--env", "FOO=bar baz", "-e", "HOME=/elsewhere", "box", "--", "busybox", "env")
	for _, want := range []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/elsewhere", "SHELL=/bin/sh", "USER=root", "LOGNAME=root", "FOO=bar baz"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("exec's environment lacks %s:\n%s", want, env)
		}
	}
	words := 6
	if term := os.Getenv("TERM"); term != "" {
		words++
		if !strings.Contains(env, "TERM="+term+"\n") {
			t.Errorf("exec's environment lacks the caller's TERM=%s:\n%s", term, env)
		}
	}
	if strings.Count(env, "\n") != words {
		t.Errorf("exec's environment has more than a login's:\n%s", env)
	}
	// --user: the ids, groups, home and shell of the instance's passwd.
	id := e.ok("exec", "--user", "alice", "box", "--", "sh", "-c", "busybox id; pwd; echo $HOME $SHELL $USER")
	if want := "uid=1000(alice) gid=1000(alice) groups=29(audio),1000(alice)\n/home/alice\n/home/alice /bin/sh alice\n"; id != want {
		t.Errorf("exec --user alice:\n%s\nwant:\n%s", id, want)
	}
	if id := e.ok("exec", "--user", "1000", "box", "--", "busybox", "id", "-u"); id != "1000\n" {
		t.Errorf("exec --user 1000: %q", id)
	}
	e.refused(1, "no such user", "exec", "--user", "mallory", "box", "--", "true")
	// --cwd, and a directory that is not there.
	if pwd := e.ok("exec", "--cwd", "/srv/data", "box", "--", "busybox", "pwd"); pwd != "/srv/data\n" {
		t.Errorf("exec --cwd /srv/data: %q", pwd)
	}
	e.refused(1, "working directory /nope", "exec", "--cwd", "/nope", "box", "--", "true")
	// As a shell says it: not found 127, not executable 126.
	e.refused(127, "command not found", "exec", "box", "--", "no-such-command")
	e.refused(126, "cannot run", "exec", "box", "--", "notaprog")
	e.refused(2, "KEY=VALUE", "exec", "--env", "=x", "box", "--", "true")
	e.refused(2, "unknown option", "exec", "--frobnicate", "box", "--", "true")
	// Forced terminal without one: the command's output still arrives.
	if out := e.ok("exec", "-t", "box", "--", "busybox", "tty"); out != "/dev/pts/0\r\n" {
		t.Errorf("exec -t tty: %q", out)
	}
	// Forced terminal, input from a pipe: typed on the terminal, the
	// shell's own exit ends it (as with ssh -tt).
	cmd = exec.Command(filepath.Join(e.bin, "initns"), "--socket", e.sock, "exec", "-t", "box", "--", "sh")
	cmd.Stdin = strings.NewReader("echo piped-$((1+2))\nexit 0\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "piped-3") {
		t.Errorf("echo ... | initns exec -t box -- sh: %v: %q", err, out)
	}
	// An instance with no devpts mounted gets no terminal, and is told
	// what to do; -T still runs.
	e.ok("exec", "box", "--", "busybox", "umount", "/dev/pts")
	e.refused(1, "has no devpts on /dev/pts", "exec", "-t", "box", "--", "busybox", "true")
	e.ok("exec", "-T", "box", "--", "busybox", "true")
	if procs := e.sessionProcs(); procs != "" {
		t.Errorf("left in the instance: %s", procs)
	}
}

// TestShellAsUser: `initns shell NAME USER` is USER's login shell, in
// its home, on a terminal of the instance's.
func TestShellAsUser(t *testing.T) {
	e := withDevpts(t)
	u := e.onTerm("shell", "box", "alice")
	u.expect("$ ")
	u.type_("echo $0 $(busybox id -u) $(pwd) $(tty)\n")
	u.expect("-sh 1000 /home/alice /dev/pts/0")
	u.type_("exit 3\n")
	if code := u.wait(); code != 3 {
		t.Fatalf("shell ended %d, want 3", code)
	}
	// The frozen instance is refused, with no terminal left behind.
	e.ok("freeze", "box")
	e.refused(1, "frozen", "shell", "box")
	e.ok("run", "box")
	e.ok("stop", "box")
	e.refused(1, "not running", "shell", "box")
}

// TestTerminalDaemonGone: when the daemon goes away, the client gives the
// person's terminal back and ends, which hangs the session up.
func TestTerminalDaemonGone(t *testing.T) {
	e := withDevpts(t)
	u := e.onTerm("exec", "box", "--", "sh")
	u.expect("# ")
	u.type_("busybox sleep 1000\n")
	e.waitFor("sleep to run", func() bool { return strings.Contains(e.sessionProcs(), "busybox:S") }, e.sessionProcs)
	e.daemon.Process.Kill()
	<-e.exited
	if code := u.wait(); code != 1 {
		t.Errorf("the client exited %d when the daemon went away, want 1", code)
	}
	u.expect("daemon closed the connection")
	if u.termios() != u.before {
		t.Error("the terminal's modes were not restored")
	}
	e.waitFor("the session to end", func() bool { return e.sessionProcs() == "" }, e.sessionProcs)
}
