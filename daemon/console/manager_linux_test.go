package console

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"initns/reaper"
	"initns/vt"
	"initns/vt/vttest"
)

// shellVT is the host shell's VT; these tests use the machine's real
// /dev/tty63 and put back the VT in front and VT 63's modes afterwards.
const shellVT = 63

func TestMain(m *testing.M) {
	// Orphans of the shell's session come to this process, as they come to
	// the daemon when it is PID 1, and the reaper reaps them: so "no
	// zombie" is this package's doing, not the host init's.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "PR_SET_CHILD_SUBREAPER:", err)
		os.Exit(1)
	}
	if err := vttest.Lock(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// fakeHost records the Manager's calls. FreezeRunning reports name as
// frozen, or stuck, and waits for release first if it is not nil.
// front returns the VT that was in front when FreezeRunning was called.
func (h *fakeHost) front() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.frontAt
}

type fakeHost struct {
	name    string
	stuck   []string
	release chan struct{}

	mu       sync.Mutex
	freezes  []time.Duration
	thaws    []string
	frontAt  int // the VT in front when FreezeRunning was called
	freezing chan struct{}
	// If thawing is not nil, ThawFrozen closes it and then waits for
	// thawRelease.
	thawing     chan struct{}
	thawRelease chan struct{}
}

func (h *fakeHost) FreezeRunning(timeout time.Duration) (string, []string, error) {
	h.mu.Lock()
	h.freezes = append(h.freezes, timeout)
	h.frontAt = activeVT()
	if h.freezing != nil {
		close(h.freezing)
		h.freezing = nil
	}
	h.mu.Unlock()
	if h.release != nil {
		<-h.release
	}
	return h.name, h.stuck, nil
}

func (h *fakeHost) ThawFrozen(name string) error {
	h.mu.Lock()
	h.thaws = append(h.thaws, name)
	thawing := h.thawing
	h.thawing = nil
	h.mu.Unlock()
	if thawing != nil {
		close(thawing)
		<-h.thawRelease
	}
	return nil
}

func (h *fakeHost) calls() ([]time.Duration, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.freezes), slices.Clone(h.thaws)
}

func activeVT() int {
	b, err := os.ReadFile("/sys/class/tty/tty0/active")
	if err != nil {
		return -1
	}
	var n int
	fmt.Sscanf(string(b), "tty%d", &n)
	return n
}

// newManager returns a Manager for the test and restores the console
// when the test ends. home is the VT that was in front.
func newManager(t *testing.T, h Host, cfg Config) (m *Manager, home int) {
	t.Helper()
	home = activeVT()
	if home == shellVT || home < 1 {
		t.Fatalf("VT %d is in front; the tests need another one", home)
	}
	cfg.HomeVT = home
	if cfg.Shells == nil {
		cfg.Shells = []string{quietBash(t)}
	}
	m = New(h, slog.New(slog.NewTextHandler(testWriter{t}, nil)), cfg)
	t.Cleanup(func() {
		m.EndShell()
		term, err := vt.OpenVT(shellVT)
		if err != nil {
			t.Error(err)
			return
		}
		defer term.Close()
		term.SetSwitchMode(vt.SwitchMode{})
		if err := term.Activate(home, 5*time.Second); err != nil {
			t.Errorf("restore VT %d: %v", home, err)
		}
	})
	return m, home
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// quietBash is bash without the machine's profile and rc files: a slow
// ~/.bashrc (pyenv's, on these machines) would eat the keys the tests type.
func quietBash(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "bash")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexec /bin/bash --noprofile --norc -i\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// typeOnShellVT puts s in the input queue of /dev/tty63 (TIOCSTI), as if
// typed on the keyboard.
func typeOnShellVT(t *testing.T, s string) {
	t.Helper()
	fd, err := unix.Open(vt.Path(shellVT), unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	typeOn(t, fd, s)
}

// typeOn puts s in the input queue of the terminal open on fd (TIOCSTI).
func typeOn(t *testing.T, fd int, s string) {
	t.Helper()
	for i := range len(s) {
		c := s[i]
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSTI, uintptr(unsafe.Pointer(&c))); errno != 0 {
			t.Fatalf("TIOCSTI: %v", errno)
		}
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// members lists the commands of session sid.
func members(t *testing.T, sid int) []string {
	t.Helper()
	ps, err := sessionMembers("/proc", sid)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, fmt.Sprintf("%s(%c)", p.Comm, p.State))
	}
	return names
}

func countComm(names []string, comm string) int {
	n := 0
	for _, name := range names {
		if strings.HasPrefix(name, comm+"(") {
			n++
		}
	}
	return n
}

// screen returns the text on VT 63 (/dev/vcs63: the rows, unseparated).
func screen(t *testing.T) string {
	b, err := os.ReadFile(fmt.Sprintf("/dev/vcs%d", shellVT))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

func switchMode(t *testing.T) vt.SwitchMode {
	term, err := vt.OpenVT(shellVT)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	mode, err := term.SwitchMode()
	if err != nil {
		t.Fatal(err)
	}
	return mode
}

// assertOpen checks what SPEC §7 says of a fresh host shell and returns
// its pid.
func assertOpen(t *testing.T, m *Manager) int {
	t.Helper()
	pid := m.ShellPid()
	if pid == 0 {
		t.Fatal("no shell after Chord")
	}
	if got := activeVT(); got != shellVT {
		t.Errorf("VT in front = %d, want %d", got, shellVT)
	}
	if !switchMode(t).Process {
		t.Errorf("VT %d not held in VT_PROCESS mode while the shell lives", shellVT)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	if want := fmt.Sprint(pid); f[3] != want { // session
		t.Errorf("shell session = %s, want %s (a new session)", f[3], want)
	}
	if want := fmt.Sprint(unix.Mkdev(4, shellVT)); f[4] != want { // tty_nr
		t.Errorf("shell tty_nr = %s, want %s (/dev/tty%d)", f[4], want, shellVT)
	}
	// Read once the shell has exec'd: during an execve the file is empty.
	var env []byte
	waitFor(t, "the shell's environment", func() bool {
		env, _ = os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		return len(env) > 0
	})
	if !slices.Contains(strings.Split(string(env), "\x00"), "HOME=/root") {
		t.Errorf("shell environment %q lacks HOME=/root", env)
	}
	return pid
}

// assertEnded checks that the shell's whole session is gone, reaped, and
// the console given back.
func assertEnded(t *testing.T, m *Manager, sid, home int) {
	t.Helper()
	if m.ShellPid() != 0 {
		t.Error("the Manager still has a shell")
	}
	if left := members(t, sid); len(left) > 0 {
		t.Errorf("session %d still has %v", sid, left)
	}
	if got := activeVT(); got != home {
		t.Errorf("VT in front = %d, want %d", got, home)
	}
	if switchMode(t).Process {
		t.Errorf("VT %d still in VT_PROCESS mode", shellVT)
	}
}

// TestChordThenEndShell is `run` of the frozen instance: the shell and
// everything started from it (background jobs, a pipeline) end.
func TestChordThenEndShell(t *testing.T) {
	h := &fakeHost{name: "box"}
	m, home := newManager(t, h, Config{})
	m.Chord()
	pid := assertOpen(t, m)
	if freezes, _ := h.calls(); !slices.Equal(freezes, []time.Duration{5 * time.Second}) {
		t.Errorf("FreezeRunning calls = %v, want one with 5s", freezes)
	}
	waitFor(t, "the banner", func() bool { return strings.Contains(screen(t), "Instance box is frozen.") })
	typeOnShellVT(t, "sleep 1000 & sleep 1001 | cat &\n")
	waitFor(t, "the background jobs", func() bool {
		ms := members(t, pid)
		return countComm(ms, "sleep") == 2 && countComm(ms, "cat") == 1
	})
	m.EndShell()
	assertEnded(t, m, pid, home)
	if _, thaws := h.calls(); len(thaws) != 0 {
		t.Errorf("EndShell thawed %v; the daemon thaws on run", thaws)
	}
}

// TestEscapedProcessLosesTerminal: a process that left the shell's session
// (setsid) is not ended, but it loses the VT: its blocked read of
// /dev/tty63 returns instead of taking the next user's keys. (The kernel
// hangs up a session's terminal when its leader exits; giveBack hangs the
// VT up again for a leader that had dropped it, which this test cannot
// arrange from bash.)
func TestEscapedProcessLosesTerminal(t *testing.T) {
	m, home := newManager(t, &fakeHost{name: "box"}, Config{})
	out := filepath.Join(t.TempDir(), "escaped")
	m.Chord()
	pid := assertOpen(t, m)
	typeOnShellVT(t, fmt.Sprintf("setsid sh -c 'echo reading > %[1]s; read x; echo read=$? > %[1]s' &\n", out))
	waitFor(t, "the escaped reader", func() bool {
		b, _ := os.ReadFile(out)
		return string(b) == "reading\n"
	})
	m.EndShell()
	assertEnded(t, m, pid, home)
	waitFor(t, "the escaped reader to see the hangup", func() bool {
		b, _ := os.ReadFile(out)
		return string(b) == "read=1\n"
	})
}

// TestExitThaws is `exit` typed in the shell, with a job left behind.
func TestExitThaws(t *testing.T) {
	h := &fakeHost{name: "box"}
	m, home := newManager(t, h, Config{})
	m.Chord()
	pid := assertOpen(t, m)
	typeOnShellVT(t, "sleep 1000 &\n")
	waitFor(t, "the background job", func() bool { return countComm(members(t, pid), "sleep") == 1 })
	typeOnShellVT(t, "exit\n")
	waitFor(t, "the thaw", func() bool { _, thaws := h.calls(); return len(thaws) > 0 })
	assertEnded(t, m, pid, home)
	if _, thaws := h.calls(); !slices.Equal(thaws, []string{"box"}) {
		t.Errorf("ThawFrozen calls = %v, want [box]", thaws)
	}
}

// TestChordDuringThaw: after `exit`, while the Host thaws, a chord is
// ignored (freezing now would be undone by that thaw), and EndShell does
// not wait for the thaw (it may need the lock EndShell's caller holds).
func TestChordDuringThaw(t *testing.T) {
	h := &fakeHost{name: "box", thawing: make(chan struct{}), thawRelease: make(chan struct{})}
	thawing := h.thawing
	m, home := newManager(t, h, Config{})
	m.Chord()
	pid := assertOpen(t, m)
	typeOnShellVT(t, "exit\n")
	select {
	case <-thawing:
	case <-time.After(10 * time.Second):
		t.Fatal("no thaw after exit")
	}
	m.Chord()
	ended := make(chan struct{})
	go func() {
		m.EndShell()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("EndShell waited for the thaw: the daemon would deadlock")
	}
	close(h.thawRelease)
	waitFor(t, "the end of the transition", m.isIdle)
	if freezes, _ := h.calls(); len(freezes) != 1 {
		t.Errorf("FreezeRunning called %d times, want 1: a chord during the thaw froze again", len(freezes))
	}
	assertEnded(t, m, pid, home)
}

// TestChordAgain: a second chord while the shell lives freezes nothing and
// starts nothing; it brings the shell's VT back to front.
func TestChordAgain(t *testing.T) {
	h := &fakeHost{name: "box"}
	m, home := newManager(t, h, Config{})
	m.Chord()
	pid := assertOpen(t, m)
	// Something took the console away regardless of the holder (a process
	// that reset VT 63 to VT_AUTO, then switched).
	term, err := vt.OpenVT(shellVT)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if err := term.SetSwitchMode(vt.SwitchMode{}); err != nil {
		t.Fatal(err)
	}
	if err := term.Activate(home, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	m.Chord()
	if got := m.ShellPid(); got != pid {
		t.Errorf("shell pid after the second chord = %d, want %d", got, pid)
	}
	if got := activeVT(); got != shellVT {
		t.Errorf("VT in front after the second chord = %d, want %d", got, shellVT)
	}
	if freezes, _ := h.calls(); len(freezes) != 1 {
		t.Errorf("FreezeRunning called %d times, want 1", len(freezes))
	}
	m.EndShell()
	assertEnded(t, m, pid, home)
}

// TestHeldVTRefusesSwitch: while the shell lives, a switch away (Alt+F1,
// chvt) is refused.
func TestHeldVTRefusesSwitch(t *testing.T) {
	m, home := newManager(t, &fakeHost{name: "box"}, Config{})
	m.Chord()
	pid := assertOpen(t, m)
	tty0, err := vt.Open("/dev/tty0")
	if err != nil {
		t.Fatal(err)
	}
	defer tty0.Close()
	if err := tty0.Activate(home, 300*time.Millisecond); err == nil {
		t.Error("switch away from the host shell happened")
	}
	if got := activeVT(); got != shellVT {
		t.Errorf("VT in front = %d, want %d", got, shellVT)
	}
	m.EndShell()
	assertEnded(t, m, pid, home)
}

// TestFreezeTimeout: the instance did not freeze; the shell opens anyway,
// names the stuck tasks, and its exit thaws nothing.
func TestFreezeTimeout(t *testing.T) {
	h := &fakeHost{name: "box", stuck: []string{"4242 fuse-sshfs (D)"}}
	m, home := newManager(t, h, Config{})
	m.Chord()
	pid := assertOpen(t, m)
	waitFor(t, "the banner", func() bool {
		s := screen(t)
		return strings.Contains(s, "Instance box did not freeze within 5s") && strings.Contains(s, "4242 fuse-sshfs (D)")
	})
	typeOnShellVT(t, "exit\n")
	waitFor(t, "the end of the shell", m.isIdle)
	assertEnded(t, m, pid, home)
	if _, thaws := h.calls(); len(thaws) != 0 {
		t.Errorf("ThawFrozen calls = %v, want none: nothing was frozen", thaws)
	}
}

// TestNoInstance: the chord opens the shell with no instance at all.
func TestNoInstance(t *testing.T) {
	h := &fakeHost{}
	m, home := newManager(t, h, Config{Shells: []string{"/nonexistent/bash", "/bin/sh"}})
	m.Chord()
	pid := assertOpen(t, m)
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if string(cmdline) != "-sh\x00" {
		t.Errorf("shell cmdline = %q, want the login shell -sh", cmdline)
	}
	waitFor(t, "the banner", func() bool { return strings.Contains(screen(t), "No instance is running.") })
	typeOnShellVT(t, "exit\n")
	waitFor(t, "the end of the shell", m.isIdle)
	assertEnded(t, m, pid, home)
	if _, thaws := h.calls(); len(thaws) != 0 {
		t.Errorf("ThawFrozen calls = %v, want none", thaws)
	}
}

// TestNoShell: with no shell to start, the freeze is undone and the
// console stays where it was.
func TestNoShell(t *testing.T) {
	h := &fakeHost{name: "box"}
	m, home := newManager(t, h, Config{Shells: []string{"/nonexistent/bash"}})
	m.Chord()
	if m.ShellPid() != 0 {
		t.Fatal("a shell without a shell")
	}
	if _, thaws := h.calls(); !slices.Equal(thaws, []string{"box"}) {
		t.Errorf("ThawFrozen calls = %v, want [box]", thaws)
	}
	if got := activeVT(); got != home {
		t.Errorf("VT in front = %d, want %d", got, home)
	}
}

// TestEndShellWhileFreezing: `run` comes while the chord waits in
// FreezeRunning (for the daemon's lock, say). EndShell must not wait for
// the opening, and the opening must undo itself.
func TestEndShellWhileFreezing(t *testing.T) {
	h := &fakeHost{name: "box", release: make(chan struct{}), freezing: make(chan struct{})}
	m, home := newManager(t, h, Config{})
	freezing := h.freezing
	chord := make(chan struct{})
	go func() {
		m.Chord()
		close(chord)
	}()
	<-freezing
	ended := make(chan struct{})
	go func() {
		m.EndShell()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("EndShell waited for the opening: the daemon would deadlock")
	}
	close(h.release)
	<-chord
	if m.ShellPid() != 0 {
		t.Error("a shell opened after EndShell")
	}
	if _, thaws := h.calls(); !slices.Equal(thaws, []string{"box"}) {
		t.Errorf("ThawFrozen calls = %v, want [box]", thaws)
	}
	if got := activeVT(); got != home {
		t.Errorf("VT in front = %d, want %d", got, home)
	}
	// And the next chord works.
	m.Chord()
	pid := assertOpen(t, m)
	m.EndShell()
	assertEnded(t, m, pid, home)
}

// TestFreezeBeforeSwitch: SPEC §7 wants the freeze confirmed before the
// switch when the VT in front can be left without its holder's answer.
func TestFreezeBeforeSwitch(t *testing.T) {
	h := &fakeHost{name: "box"}
	m, home := newManager(t, h, Config{})
	m.Chord()
	pid := assertOpen(t, m)
	if frontAt := h.front(); frontAt != home {
		t.Errorf("VT in front during the freeze = %d, want %d", frontAt, home)
	}
	m.EndShell()
	assertEnded(t, m, pid, home)
}

// TestGraphicsFront: the kernel ignores a switch away from a VT in
// graphics mode with VT_AUTO; the Manager puts it in text mode first.
func TestGraphicsFront(t *testing.T) {
	m, home := newManager(t, &fakeHost{name: "box"}, Config{})
	front, err := vt.OpenVT(home)
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	if err := front.SetGraphics(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.SetText() })
	m.Chord()
	pid := assertOpen(t, m)
	if g, _ := front.Graphics(); g {
		t.Errorf("VT %d still in graphics mode", home)
	}
	m.EndShell()
	assertEnded(t, m, pid, home)
}

// TestEndSessionKillsStubborn: processes that ignore the hangup are
// killed, and all of them are reaped.
func TestEndSessionKillsStubborn(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	fd := null.Fd()
	pid, exit, err := reaper.Start("/bin/sh", []string{"sh", "-c", `trap "" HUP; sleep 1000 & sleep 1001 & (sleep 1002 &); wait`},
		&syscall.ProcAttr{Files: []uintptr{fd, fd, fd}, Sys: &syscall.SysProcAttr{Setsid: true}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session's processes", func() bool { return countComm(members(t, pid), "sleep") == 3 })
	start := time.Now()
	if err := endSession("/proc", pid, 200*time.Millisecond, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("ended in %v: the hangup was not ignored, the test proves nothing", took)
	}
	if left := members(t, pid); len(left) > 0 {
		t.Fatalf("left: %v", left)
	}
	select {
	case e := <-exit:
		if !e.Status.Signaled() || e.Status.Signal() != syscall.SIGKILL {
			t.Errorf("shell status %v, want killed by SIGKILL", e)
		}
	case <-time.After(5 * time.Second):
		t.Error("no exit status for the session leader")
	}
}

var _ io.Writer = testWriter{}

// isIdle reports whether the Manager has finished every transition.
func (m *Manager) isIdle() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.phase == idle
}
