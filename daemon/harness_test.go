package daemon_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"initns/cgroupfs"
	"initns/internal/initreport"
	"initns/proto"
)

// The integration tests build the real binary and the test init once, start
// the real daemon on a state root, socket and parent cgroup of each test's
// own, and drive it with the real client and raw connections.

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds bin (the project's binary, with init and initns links)
// and testinit once per test run.
func binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "initns-bin-")
		if buildErr != nil {
			return
		}
		for _, b := range [][2]string{{"initns", ".."}, {"testinit", "../testdata/testinit"}} {
			// As the Makefile builds it, so that the benchmarks measure
			// what ships.
			cmd := exec.Command("go", "build", "-trimpath", "-tags", "urfave_cli_no_docs", "-ldflags", "-s -w", "-o", filepath.Join(buildDir, b[0]), b[1])
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", b[0], err, out)
				return
			}
		}
		buildErr = os.Symlink("initns", filepath.Join(buildDir, "init"))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

// env is one daemon under test.
type env struct {
	t       testing.TB
	bin     string
	root    string
	sock    string
	cgroup  string
	console string
	daemon  *exec.Cmd
	exited  chan struct{}
	// wrap, when set, is the command the daemon is started under
	// (prlimit ... --): it execs the daemon, which keeps its pid.
	wrap []string
	// clientEnv is added to the client's environment (pull_test.go: its
	// cache, CA and docker config).
	clientEnv []string
	// rssBase is the daemon's resident memory when its peak was last
	// reset (hostile_test.go).
	rssBase uint64
}

// startDaemon starts a daemon of the test's own.
func startDaemon(t testing.TB, extra ...string) *env {
	t.Helper()
	e := newEnv(t)
	e.start(extra...)
	return e
}

// newEnv makes the state root, socket and cgroup paths of a daemon of the
// test's own, not yet started.
func newEnv(t testing.TB) *env {
	t.Helper()
	bin := binaries(t)
	dir := t.TempDir()
	mnt, err := cgroupfs.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t: t, bin: bin,
		root:    filepath.Join(dir, "root"),
		sock:    filepath.Join(dir, "initns.sock"),
		cgroup:  filepath.Join(mnt, fmt.Sprintf("initns-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_"))),
		console: filepath.Join(dir, "console"),
	}
	if err := os.WriteFile(e.console, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cleanup)
	return e
}

func (e *env) start(extra ...string) {
	e.t.Helper()
	// --hotkey=false: the tests must not take this machine's VTs.
	args := append([]string{"--root", e.root, "--socket", e.sock, "--cgroup", e.cgroup, "--console", e.console, "--hotkey=false"}, extra...)
	argv := append(append([]string{}, e.wrap...), filepath.Join(e.bin, "init"))
	e.daemon = exec.Command(argv[0], append(argv[1:], args...)...)
	e.daemon.Stderr = &testWriter{t: e.t, prefix: "daemon: "}
	if err := e.daemon.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(e.daemon, e.exited)
	// Answering, not merely accepting: a killed daemon's socket may still
	// take connections for a moment.
	e.waitFor("the daemon to answer", func() bool {
		c, err := net.Dial("unix", e.sock)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		c.Write([]byte("help\n"))
		line, err := bufio.NewReader(c).ReadString('\n')
		return err == nil && line != ""
	})
}

// cleanup kills the daemon and every cgroup the test made.
func (e *env) cleanup() {
	if e.daemon != nil && e.daemon.Process != nil {
		e.daemon.Process.Kill()
		<-e.exited
	}
	if p, err := cgroupfs.OpenParent(e.cgroup); err == nil {
		names, _ := p.Children()
		for _, n := range names {
			p.Group(n).Destroy(10 * time.Second)
		}
		os.Remove(e.cgroup)
	}
	if log, err := os.ReadFile(filepath.Join(e.root, "log")); err == nil && e.t.Failed() {
		e.t.Logf("daemon log:\n%s", log)
	}
}

// waitFor polls cond (tests only: the daemon itself never polls).
func (e *env) waitFor(what string, cond func() bool, show ...func() string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, s := range show {
				e.t.Log(s())
			}
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// result of one client run.
type result struct {
	stdout, stderr string
	code           int
}

// client runs the real client.
func (e *env) client(args ...string) result {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, "initns"), append([]string{"--socket", e.sock}, args...)...)
	cmd.Env = append(os.Environ(), e.clientEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// ok runs the client and fails the test unless it succeeds.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	r := e.client(args...)
	if r.code != 0 {
		e.t.Fatalf("initns %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// refused runs the client and asserts it fails with code and a reason
// containing want.
func (e *env) refused(code int, want string, args ...string) {
	e.t.Helper()
	r := e.client(args...)
	if r.code != code || !strings.Contains(r.stderr, want) || !strings.HasPrefix(r.stderr, "initns: ") {
		e.t.Fatalf("initns %s: exit %d, stderr %q; want exit %d and %q", strings.Join(args, " "), r.code, r.stderr, code, want)
	}
}

// list returns `ls --json`.
func (e *env) list() proto.List {
	e.t.Helper()
	var l proto.List
	if err := json.Unmarshal([]byte(e.ok("ls", "--json")), &l); err != nil {
		e.t.Fatal(err)
	}
	return l
}

// state returns an instance's state from ls.
func (e *env) state(name string) proto.Instance {
	e.t.Helper()
	for _, i := range e.list().Instances {
		if i.Name == name {
			return i
		}
	}
	e.t.Fatalf("instance %s not listed", name)
	return proto.Instance{}
}

// compat sends raw compatibility-mode bytes and reads n answers (each
// ending in "\n\n").
func (e *env) compat(send string, n int) string {
	e.t.Helper()
	c, err := net.Dial("unix", e.sock)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(send)); err != nil {
		e.t.Fatal(err)
	}
	return readAnswers(e.t, c, n)
}

func readAnswers(t testing.TB, c net.Conn, n int) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	var out strings.Builder
	for i := 0; i < n; i++ {
		for {
			line, err := r.ReadString('\n')
			out.WriteString(line)
			if err != nil {
				t.Fatalf("read answer %d: %v (so far %q)", i, err, out.String())
			}
			if line == "\n" {
				break
			}
		}
	}
	return out.String()
}

// rootfs returns the host path of an instance's root filesystem.
func (e *env) rootfs(name string) string { return filepath.Join(e.root, "rootfs", name) }

// report reads what the instance's test init saw.
type report = initreport.Report

// waitReport waits for the instance's init to report, and removes the
// report so the next boot's can be told apart.
func (e *env) waitReport(name string) report {
	e.t.Helper()
	path := filepath.Join(e.rootfs(name), "report.json")
	var data []byte
	e.waitFor(name+"'s init to report", func() bool {
		var err error
		data, err = os.ReadFile(path)
		return err == nil
	})
	os.Remove(path)
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// ctl writes a command to the instance's test init. The FIFO is opened
// without blocking (ENXIO until init reads it), so a dead init fails the
// test instead of hanging it.
func (e *env) ctl(name, cmd string) {
	e.t.Helper()
	var f *os.File
	e.waitFor(name+"'s init to read /ctl", func() bool {
		var err error
		f, err = os.OpenFile(filepath.Join(e.rootfs(name), "ctl"), os.O_WRONLY|syscall.O_NONBLOCK, 0)
		return err == nil
	})
	defer f.Close()
	if _, err := f.WriteString(cmd + "\n"); err != nil {
		e.t.Fatal(err)
	}
}

// groupGone asserts the instance's cgroup no longer exists.
func (e *env) groupGone(name string) {
	e.t.Helper()
	if _, err := os.Stat(filepath.Join(e.cgroup, name)); !errors.Is(err, os.ErrNotExist) {
		e.t.Fatalf("cgroup of %s still exists (%v)", name, err)
	}
}

// image builds a test image in the state root's images folder: busybox
// and the test init as /sbin/init (or no init with noInit), plus files.
// A file whose content starts with "symlink:" is a symlink to the rest.
func (e *env) image(name string, noInit bool, files map[string]string) {
	e.t.Helper()
	dir := e.t.TempDir()
	for _, d := range []string{"bin", "sbin", "etc", "tmp", "proc", "dev"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	copyFile(e.t, "/bin/busybox", filepath.Join(dir, "bin/busybox"))
	os.Symlink("busybox", filepath.Join(dir, "bin/sh"))
	if !noInit {
		copyFile(e.t, filepath.Join(e.bin, "testinit"), filepath.Join(dir, "sbin/init"))
	}
	for p, content := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		var err error
		if target, ok := strings.CutPrefix(content, "symlink:"); ok {
			err = os.Symlink(target, filepath.Join(dir, p))
		} else {
			err = os.WriteFile(filepath.Join(dir, p), []byte(content), 0o755)
		}
		if err != nil {
			e.t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(e.root, "images"), 0o755)
	out, err := exec.Command("tar", "-czf", filepath.Join(e.root, "images", name), "--numeric-owner", "-C", dir, ".").CombinedOutput()
	if err != nil {
		e.t.Fatalf("tar: %v: %s", err, out)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// testWriter sends the daemon's stderr to the test log.
type testWriter struct {
	t      testing.TB
	prefix string
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimSpace(string(p)))
	return len(p), nil
}

// startBox starts a daemon with instance box, made from the test image,
// running, its init up.
func startBox(t *testing.T) *env {
	t.Helper()
	return startDaemon(t).box()
}

// box makes instance box from the test image on a started daemon, runs
// it and waits for its init to be up.
func (e *env) box() *env {
	e.t.Helper()
	e.image("test.tar.gz", false, nil)
	e.ok("new", "box", "test.tar.gz")
	e.ok("run", "box")
	e.waitReport("box")
	return e
}

// waitEnded waits for an instance to stop by itself, then asserts how ls
// says it ended and that its cgroup is gone.
func (e *env) waitEnded(name, ended string) {
	e.t.Helper()
	e.waitFor(name+" to stop", func() bool { return e.state(name).State == "stopped" })
	if st := e.state(name); ended != "" && st.Ended != ended {
		e.t.Fatalf("ls says %s ended %q, want %q", name, st.Ended, ended)
	}
	e.groupGone(name)
}
