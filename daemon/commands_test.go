package daemon_test

import (
	"bytes"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCommandsAndRefusals(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, nil)

	e.ok("new", "box", "test.tar.gz")
	e.refused(1, "exist", "new", "box", "test.tar.gz")
	e.refused(1, "missing.tar", "new", "other", "missing.tar")
	e.refused(2, "", "new", "../evil", "test.tar.gz")
	e.refused(2, "", "new", ".hidden", "test.tar.gz")
	e.refused(2, "wants 2 argument", "new", "onlyone")
	e.refused(2, "unknown command", "frobnicate")
	e.refused(2, "", "stop", "box", "--bogus-flag")
	e.refused(1, "", "run", "nosuch")
	e.refused(1, "not running", "stop", "box")
	e.refused(1, "not running", "freeze", "box")

	if got := e.ok("ls", "instance"); got != "box\n" {
		t.Fatalf("ls instance = %q", got)
	}
	if got := e.ok("ls", "image"); got != "test.tar.gz\n" {
		t.Fatalf("ls image = %q", got)
	}
	table := e.ok("ls")
	if !strings.Contains(table, "NAME") || !strings.Contains(table, "box") || !strings.Contains(table, "stopped") {
		t.Fatalf("ls table:\n%s", table)
	}
	if st := e.state("box"); st.Image != "test.tar.gz" || st.Size <= 0 || st.Created.IsZero() {
		t.Fatalf("ls --json row %+v", st)
	}

	e.ok("run", "box")
	e.waitReport("box")
	e.refused(1, "stop it first", "rm", "box")

	// commit of a running instance: frozen for the snapshot, then thawed.
	e.ok("commit", "box", "snap.tar.zst")
	if e.state("box").State != "running" {
		t.Fatal("commit left the instance frozen")
	}
	e.refused(1, "exist", "commit", "box", "snap.tar.zst")
	e.ok("stop", "box", "--kill")

	e.ok("new", "fromsnap", "snap.tar.zst")
	if _, err := os.Stat(filepath.Join(e.rootfs("fromsnap"), "sbin/init")); err != nil {
		t.Fatal("instance from a committed image lacks /sbin/init")
	}
	seedDir := t.TempDir()
	os.WriteFile(filepath.Join(seedDir, "hello"), []byte("hi"), 0o644)
	e.ok("seed", seedDir, "seeded.tar.gz")
	e.ok("new", "seeded", "seeded.tar.gz")
	if data, _ := os.ReadFile(filepath.Join(e.rootfs("seeded"), "hello")); string(data) != "hi" {
		t.Fatalf("seeded instance's hello = %q", data)
	}

	e.ok("rm", "box")
	e.refused(1, "", "rm", "box")
	if got := e.ok("ls", "instance"); got != "fromsnap\nseeded\n" {
		t.Fatalf("ls instance after rm = %q", got)
	}
	if _, err := os.Stat(e.rootfs("box")); !os.IsNotExist(err) {
		t.Fatal("rm left the root filesystem")
	}
	if !strings.Contains(e.ok("help"), "commit") {
		t.Fatal("help lists no commands")
	}
}

func TestCompatibilityMode(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, nil)
	if got := e.compat("new box test.tar.gz\n", 1); got != "ok\n\n" {
		t.Fatalf("new = %q", got)
	}
	if got := e.compat("ls instance\n", 1); got != "box\n\n" {
		t.Fatalf("ls instance = %q", got)
	}
	// A trailing space is ignored; several requests on one connection.
	if got := e.compat("ls image \nls instance\nhelp\n", 3); !strings.HasPrefix(got, "test.tar.gz\n\nbox\n\nnew NAME IMAGE\n") || !strings.HasSuffix(got, "\n\n") {
		t.Fatalf("pipelined = %q", got)
	}
	for req, want := range map[string]string{
		"frobnicate\n":          "syntax\n\n",
		"new box\n":             "syntax\n\n",
		"ls\n":                  "syntax\n\n",
		"new box test.tar.gz\n": "error\n\n",
		"new bad/name x\n":      "error\n\n",
		"stop box\n":            "error\n\n",
		"ls nonsense\n":         "syntax\n\n",
		"rm nosuch\n":           "error\n\n",
	} {
		if got := e.compat(req, 1); got != want {
			t.Errorf("%q = %q, want %q", req, got, want)
		}
	}
	// A request arriving in several reads.
	c, err := net.Dial("unix", e.sock)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"ls in", "sta", "nce\n"} {
		c.Write([]byte(part))
		time.Sleep(20 * time.Millisecond)
	}
	if got := readAnswers(t, c, 1); got != "box\n\n" {
		t.Fatalf("split request = %q", got)
	}
	c.Close()
	// Longer than 4096 bytes: refused, and the daemon keeps serving.
	long := strings.Repeat("x", 5000) + "\n"
	if got := e.compat(long, 1); got != "syntax\n\n" {
		t.Fatalf("long request = %q", got)
	}
	if got := e.compat("run box\n", 1); got != "ok\n\n" {
		t.Fatalf("run = %q", got)
	}
	e.waitReport("box")
	if got := e.compat("stop box\n", 1); got != "ok\n\n" {
		t.Fatalf("stop = %q", got)
	}
	e.groupGone("box")
}

func TestSocketSecurity(t *testing.T) {
	dir := t.TempDir()
	bait := filepath.Join(dir, "bait")
	os.WriteFile(bait, []byte("keep"), 0o644)
	e := startDaemonWithStaleSocket(t, bait)
	st, err := os.Lstat(e.sock)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want a socket with 0600", st.Mode())
	}
	if data, _ := os.ReadFile(bait); string(data) != "keep" {
		t.Fatal("the symlink's target was touched")
	}
	// Open the file mode so only the peer-credential check stands between
	// an unprivileged user and the daemon.
	os.Chmod(e.sock, 0o666)
	os.Chmod(filepath.Dir(e.sock), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(e.sock)), 0o755)
	os.Chmod(e.bin, 0o755)
	cmd := exec.Command(filepath.Join(e.bin, "initns"), "--socket", e.sock, "ls", "instance")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "permission denied") {
		t.Fatalf("nobody got %q (%v)", out, err)
	}
	e.ok("ls") // the daemon keeps serving
}

// startDaemonWithStaleSocket puts a symlink where the socket goes first.
func startDaemonWithStaleSocket(t *testing.T, target string) *env {
	t.Helper()
	e := startDaemon(t)
	e.daemon.Process.Kill()
	<-e.exited
	os.Remove(e.sock)
	if err := os.Symlink(target, e.sock); err != nil {
		t.Fatal(err)
	}
	e.start()
	return e
}

func TestOneDaemonPerStateRoot(t *testing.T) {
	e := startDaemon(t)
	cmd := exec.Command(filepath.Join(e.bin, "init"), "--root", e.root, "--socket", e.sock+"2", "--cgroup", e.cgroup+"2", "--hotkey=false")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another daemon") {
		t.Fatalf("a second daemon on the same root: %v %s", err, out)
	}
	e.ok("ls")
}

func TestInstallLinks(t *testing.T) {
	bin := binaries(t)
	dir := filepath.Join(t.TempDir(), "sbin")
	if out, err := exec.Command(filepath.Join(bin, "initns"), "--install", dir).CombinedOutput(); err != nil {
		t.Fatalf("--install: %v %s", err, out)
	}
	self, _ := filepath.EvalSymlinks(filepath.Join(bin, "initns"))
	for _, name := range []string{"init", "initns"} {
		if target, err := filepath.EvalSymlinks(filepath.Join(dir, name)); err != nil || target != self {
			t.Fatalf("%s -> %q (%v), want %q", name, target, err, self)
		}
	}
	// Under another name, the first argument names the role.
	other := filepath.Join(t.TempDir(), "whatever")
	os.Symlink(self, other)
	out, err := exec.Command(other).CombinedOutput()
	if code := exitOf(err); code != 2 || !strings.Contains(string(out), "roles") {
		t.Fatalf("no role: exit %d, %s", code, out)
	}
	if out, err := exec.Command(other, "initns", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "USAGE") {
		t.Fatalf("BINARY initns --help: %v %s", err, out)
	}
}

func exitOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// TestProgressBarOnATerminal: long work shows a bar on a terminal, none
// with --quiet.
func TestProgressBarOnATerminal(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, nil)
	for _, c := range []struct {
		args []string
		bar  bool
	}{{[]string{"new", "a", "test.tar.gz"}, true}, {[]string{"new", "--quiet", "b", "test.tar.gz"}, false}} {
		out := e.onTerminal(c.args...)
		if got := strings.Contains(out, "100%"); got != c.bar {
			t.Fatalf("initns %v on a terminal showed %q; want a bar: %v", c.args, out, c.bar)
		}
	}
}

// onTerminal runs the client with its stderr on a pseudo-terminal and
// returns what the terminal showed.
func (e *env) onTerminal(args ...string) string {
	e.t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		e.t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		e.t.Fatal(err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(e.bin, "initns"), append([]string{"--socket", e.sock}, args...)...)
	cmd.Stderr = pts
	err = cmd.Run()
	pts.Close()
	if err != nil {
		e.t.Fatalf("initns %v: %v", args, err)
	}
	var out bytes.Buffer
	ptmx.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(&out, ptmx)
	return out.String()
}
