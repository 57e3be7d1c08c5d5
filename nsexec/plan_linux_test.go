package nsexec

import (
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// goStrings reads back a NULL-terminated array of C strings.
func goStrings(t *testing.T, list []*byte) []string {
	t.Helper()
	if len(list) == 0 || list[len(list)-1] != nil {
		t.Fatalf("not NULL-terminated: %d entries", len(list))
	}
	var out []string
	for _, b := range list[:len(list)-1] {
		out = append(out, unix.BytePtrToString(b))
	}
	return out
}

// sendRecord writes a record on a pipe as a child does (report).
func sendRecord(t *testing.T, w int, st stage, val uint32, split bool) {
	t.Helper()
	rec := [2]uint32{uint32(st), val}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&rec)), unsafe.Sizeof(rec))
	if split {
		// A pipe may hand the reader a record in pieces.
		unix.Write(w, b[:3])
		b = b[3:]
	}
	if _, err := unix.Write(w, b); err != nil {
		t.Fatal(err)
	}
}

func pipe(t *testing.T) (r, w int) {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

func TestReadRecord(t *testing.T) {
	r, w := pipe(t)
	sendRecord(t, w, stagePivot, uint32(unix.EINVAL), true)
	sendRecord(t, w, 0, 4242, false)
	unix.Write(w, []byte{1, 2, 3}) // a torn record, then the end
	unix.Close(w)
	want := []record{{stagePivot, uint32(unix.EINVAL)}, {0, 4242}}
	for i, wr := range want {
		if got, ok := readRecord(r); !ok || got != wr {
			t.Errorf("record %d: %+v, %v; want %+v", i, got, ok, wr)
		}
	}
	if got, ok := readRecord(r); ok {
		t.Errorf("a torn record read as %+v", got)
	}
	if _, ok := readRecord(r); ok {
		t.Error("a record after the end")
	}
}

// TestChildError: the boot child's records become reasons a person can
// act on, which still wrap the errno.
func TestChildError(t *testing.T) {
	for _, c := range []struct {
		rec  record
		want string
	}{
		{record{stageExec, uint32(unix.ENOENT)}, "no /sbin/init in the root filesystem /r (no such file or directory): install an init there, or use another image"},
		{record{stageExec, uint32(unix.EACCES)}, "/sbin/init in /r is not executable (permission denied): chmod +x it"},
		{record{stageExec, uint32(unix.ENOEXEC)}, "/sbin/init in /r is not a program this kernel can run (exec format error)"},
		{record{stageExec, uint32(unix.E2BIG)}, "exec /sbin/init (root filesystem /r): argument list too long"},
		{record{stagePivot, uint32(unix.EINVAL)}, "pivot_root (root filesystem /r): invalid argument"},
		{record{stageDev, uint32(unix.EPERM)}, "mount devtmpfs on /dev (root filesystem /r): operation not permitted"},
		{record{99, uint32(unix.EIO)}, "step 99 (root filesystem /r): input/output error"},
	} {
		err := childError("/r", c.rec)
		if err.Error() != c.want {
			t.Errorf("%+v: %q, want %q", c.rec, err, c.want)
		}
		if !errors.Is(err, syscall.Errno(c.rec.val)) {
			t.Errorf("%+v: %v does not wrap its errno", c.rec, err)
		}
	}
}

// TestCommandError: exec's records tell a command not found (a shell's
// 127) from one that may not run (126) from a failure before the exec.
func TestCommandError(t *testing.T) {
	for _, c := range []struct {
		rec                     record
		notFound, notExecutable bool
		text                    string
	}{
		{record{stageExecCommand, uint32(unix.ENOENT)}, true, false, "exec the command: no such file or directory"},
		{record{stageExecCommand, uint32(unix.ENOTDIR)}, true, false, "exec the command: not a directory"},
		{record{stageExecCommand, uint32(unix.EACCES)}, false, true, "exec the command: permission denied"},
		{record{stageExecCommand, uint32(unix.ENOEXEC)}, false, true, "exec the command: exec format error"},
		{record{stageJoin, uint32(unix.EPERM)}, false, false, "join the instance's namespaces: operation not permitted"},
		{record{stageFork, uint32(unix.EAGAIN)}, false, false, "fork the command: resource temporarily unavailable"},
	} {
		e := commandError(c.rec)
		if e.NotFound() != c.notFound || e.NotExecutable() != c.notExecutable || e.Error() != c.text {
			t.Errorf("%+v: NotFound %v NotExecutable %v %q; want %v %v %q", c.rec, e.NotFound(), e.NotExecutable(), e, c.notFound, c.notExecutable, c.text)
		}
		if !errors.Is(e, syscall.Errno(c.rec.val)) {
			t.Errorf("%+v: does not unwrap to its errno", c.rec)
		}
	}
}

func isCloexec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatalf("fd %d: %v", fd, err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

func TestBootPlan(t *testing.T) {
	p, err := newBootPlan(Config{Rootfs: "/var/lib/initns/rootfs/box", CgroupFD: 42, Console: "/dev/null",
		Env:      []string{"container="},
		ReadOnly: []Bind{{Source: "/lib/modules/6.1.0-1-amd64", Target: "/var/lib/initns/rootfs/box/usr/lib/modules/6.1.0-1-amd64"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if p.boot == nil || p.exec != nil {
		t.Fatal("a boot plan must start the boot child, and only it")
	}
	if want := uint64(Namespaces | unix.CLONE_INTO_CGROUP | unix.CLONE_PIDFD); p.args.flags != want {
		t.Errorf("clone flags %#x, want %#x", p.args.flags, want)
	}
	if p.args.cgroup != 42 || p.args.exitSignal != uint64(unix.SIGCHLD) {
		t.Errorf("cgroup %d exit signal %d, want 42 and SIGCHLD", p.args.cgroup, p.args.exitSignal)
	}
	if p.args.pidfd != uint64(uintptr(unsafe.Pointer(&p.pidfd))) || p.pidfd != -1 {
		t.Errorf("clone3 must write the pidfd into the plan")
	}
	if got := goStrings(t, p.argv); !slices.Equal(got, []string{"/sbin/init"}) {
		t.Errorf("argv %q", got)
	}
	if got := goStrings(t, p.envv); !slices.Equal(got, []string{"HOME=/", "TERM=linux", "container="}) {
		t.Errorf("env %q: want the kernel's HOME=/ TERM=linux and the daemon's container=", got)
	}
	if len(p.boot.binds) != 1 || unix.BytePtrToString(p.boot.binds[0].source) != "/lib/modules/6.1.0-1-amd64" ||
		unix.BytePtrToString(p.boot.binds[0].target) != "/var/lib/initns/rootfs/box/usr/lib/modules/6.1.0-1-amd64" {
		t.Errorf("the read-only binds are not in the plan as given")
	}
	if got := unix.BytePtrToString(p.boot.rootfs); got != "/var/lib/initns/rootfs/box" {
		t.Errorf("rootfs %q", got)
	}
	for _, fd := range []int{p.boot.console, p.errR, p.errW} {
		if fd < 0 || !isCloexec(t, fd) {
			t.Errorf("fd %d: not open close-on-exec (console %d, pipe %d %d)", fd, p.boot.console, p.errR, p.errW)
		}
	}
}

// TestNamespaces pins SPEC §6: an instance's own PIDs, mounts, cgroup
// view, hostname and IPC; the host's network, users and time.
func TestNamespaces(t *testing.T) {
	own := []int{unix.CLONE_NEWPID, unix.CLONE_NEWNS, unix.CLONE_NEWCGROUP, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC}
	shared := []int{unix.CLONE_NEWNET, unix.CLONE_NEWUSER, unix.CLONE_NEWTIME}
	for _, f := range own {
		if Namespaces&f == 0 {
			t.Errorf("%#x missing", f)
		}
	}
	for _, f := range shared {
		if Namespaces&f != 0 {
			t.Errorf("%#x must stay the host's", f)
		}
	}
}

func TestBootPlanErrors(t *testing.T) {
	if _, err := newBootPlan(Config{Rootfs: "/a\x00b", Console: "/dev/null"}); err == nil {
		t.Error("a NUL in the root filesystem's path: no error")
	}
	_, err := newBootPlan(Config{Rootfs: "/r", Console: "/nonexistent/console"})
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "console /nonexistent/console") {
		t.Errorf("missing console: %v", err)
	}
}

func TestExecPlan(t *testing.T) {
	cfg := ExecConfig{PidFD: 7, CgroupFD: 9, Argv: []string{"ls", "-l"}, Path: []string{"/usr/bin", "/bin"},
		Env: []string{"PATH=/usr/bin:/bin", "HOME=/root"}, Stdio: [3]int{3, 4, 5}}
	p, err := newExecPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if p.exec == nil || p.boot != nil {
		t.Fatal("an exec plan must start exec's first child, and only it")
	}
	// The first child stays in the daemon's namespaces until setns, and
	// is an ordinary child; the command is the daemon's (CLONE_PARENT),
	// born in the instance's cgroup.
	if p.args.flags != 0 || p.args.exitSignal != uint64(unix.SIGCHLD) {
		t.Errorf("first child: flags %#x exit signal %d, want 0 and SIGCHLD", p.args.flags, p.args.exitSignal)
	}
	if s := p.exec.second; s.flags != unix.CLONE_PARENT|unix.CLONE_INTO_CGROUP || s.exitSignal != 0 || s.cgroup != 9 {
		t.Errorf("command: flags %#x exit signal %d cgroup %d, want CLONE_PARENT|CLONE_INTO_CGROUP, 0, 9", s.flags, s.exitSignal, s.cgroup)
	}
	if p.exec.pidfd != 7 || p.exec.stdio != [3]int{3, 4, 5} {
		t.Errorf("pidfd %d stdio %v", p.exec.pidfd, p.exec.stdio)
	}
	if got := goStrings(t, p.argv); !slices.Equal(got, cfg.Argv) {
		t.Errorf("argv %q", got)
	}
	if got := goStrings(t, p.envv); !slices.Equal(got, cfg.Env) {
		t.Errorf("env %q", got)
	}
	if got := goStrings(t, append(p.exec.paths, nil)); !slices.Equal(got, []string{"/usr/bin/ls", "/bin/ls"}) {
		t.Errorf("candidates %q", got)
	}
	if !isCloexec(t, p.errR) || !isCloexec(t, p.errW) {
		t.Error("the error pipe is not close-on-exec: it would never end")
	}
	if _, err := newExecPlan(ExecConfig{Argv: []string{"a\x00"}}); err == nil {
		t.Error("a NUL in argv: no error")
	}
	if _, err := Exec(ExecConfig{}); err == nil {
		t.Error("Exec of no command: no error")
	}
}

func TestCandidates(t *testing.T) {
	for _, c := range []struct {
		cmd  string
		path []string
		want []string
	}{
		{"ls", []string{"/usr/local/bin", "/usr/bin/", ""}, []string{"/usr/local/bin/ls", "/usr/bin/ls", "./ls"}},
		{"ls", nil, []string{}},
		{"/bin/ls", []string{"/usr/bin"}, []string{"/bin/ls"}},
		{"./run", []string{"/usr/bin"}, []string{"./run"}},
		{"sub/run", []string{"/usr/bin"}, []string{"sub/run"}},
	} {
		if got := candidates(c.cmd, c.path); !slices.Equal(got, c.want) {
			t.Errorf("candidates(%q, %q) = %q, want %q", c.cmd, c.path, got, c.want)
		}
	}
}
