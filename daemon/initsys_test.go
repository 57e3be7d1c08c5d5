package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestExecInsideTheInstance: exec looks its command up inside the
// instance (an absolute symlink in its PATH means the instance's path,
// not the host's), is born in the instance's exec leaf cgroup, and sees
// the instance's own hostname, SysV IPC and /dev.
func TestExecInsideTheInstance(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, map[string]string{
		"usr/local/bin":   "symlink:/opt/tools",
		"opt/tools/hello": "#!/bin/sh\necho hello from the instance\n",
		"bin/nox":         "not executable",
	})
	os.Chmod(filepath.Join(e.root, "images"), 0o755)
	e.ok("new", "box", "test.tar.gz")
	os.Chmod(filepath.Join(e.rootfs("box"), "bin/nox"), 0o644)
	e.ok("run", "box")
	e.waitReport("box")

	if out := e.ok("exec", "box", "--", "hello"); out != "hello from the instance\n" {
		t.Errorf("exec hello (in /usr/local/bin -> /opt/tools inside the instance): %q", out)
	}
	// The cgroup2 line (a hybrid host lists its v1 hierarchies too).
	if out := e.ok("exec", "box", "--", "busybox", "grep", "^0::", "/proc/self/cgroup"); out != "0::/initns.exec\n" {
		t.Errorf("exec's command is in cgroup %q, want the leaf 0::/initns.exec", out)
	}
	e.refused(127, "command not found", "exec", "box", "--", "no-such-command")
	e.refused(126, "cannot run", "exec", "box", "--", "nox")

	host, _ := os.Hostname()
	e.ok("exec", "box", "--", "busybox", "hostname", "inside-box")
	if out := e.ok("exec", "box", "--", "busybox", "hostname"); out != "inside-box\n" {
		t.Errorf("hostname inside after setting it: %q", out)
	}
	if now, _ := os.Hostname(); now != host {
		t.Errorf("the instance's hostname leaked to the host: %q, was %q", now, host)
	}
	for _, ns := range []string{"uts", "ipc", "pid", "mnt", "cgroup"} {
		mine, _ := os.Readlink("/proc/self/ns/" + ns)
		if out := e.ok("exec", "box", "--", "busybox", "readlink", "/proc/self/ns/"+ns); strings.TrimSpace(out) == mine {
			t.Errorf("exec's command shares the host's %s namespace (%s)", ns, mine)
		}
	}
	// /dev is a devtmpfs, as Debian's initramfs gives every init.
	out := e.ok("exec", "box", "--", "sh", "-c", "busybox grep ' /dev ' /proc/self/mountinfo; test -c /dev/console && echo console")
	if !strings.Contains(out, "devtmpfs") || !strings.Contains(out, "console") {
		t.Errorf("/dev inside the instance:\n%s", out)
	}
	e.ok("stop", "box")
	e.groupGone("box")
}

// TestStopSpeaksTheInitsLanguage: stop asks the init the way the instance
// is set to be asked (`initns set`), and ls shows it.
func TestStopSpeaksTheInitsLanguage(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, map[string]string{"halt-on": "12\n", "initctl": ""})
	e.ok("new", "box", "test.tar.gz")
	if st := e.state("box"); st.Init != "unknown" || st.Halt != "SIGRTMIN+4" {
		t.Errorf("ls of a test init: init %q halt %q, want unknown and the daemon's SIGRTMIN+4", st.Init, st.Halt)
	}
	cases := []struct {
		set    []string
		init   string
		halt   string
		halted string
	}{
		{[]string{"halt-signal=SIGUSR2"}, "unknown", "SIGUSR2 (set)", "halted 12\n"},
		{[]string{"halt-signal=auto", "init=sysvinit"}, "sysvinit (set)", "initctl runlevel 0", "initctl runlevel 0\n"},
		{[]string{"init=auto"}, "unknown", "SIGRTMIN+4", "halted 38\n"},
	}
	for _, c := range cases {
		e.ok(append([]string{"set", "box"}, c.set...)...)
		if st := e.state("box"); st.Init != c.init || st.Halt != c.halt {
			t.Errorf("after set %v: ls says init %q halt %q, want %q %q", c.set, st.Init, st.Halt, c.init, c.halt)
		}
		e.ok("run", "box")
		e.waitReport("box")
		start := time.Now()
		e.ok("stop", "box", "--timeout", "20s")
		took := time.Since(start)
		got, _ := os.ReadFile(filepath.Join(e.rootfs("box"), "halted"))
		os.Remove(filepath.Join(e.rootfs("box"), "halted"))
		if string(got) != c.halted {
			t.Errorf("after set %v: the init says %q, want %q (stop took %v)", c.set, got, c.halted, took)
		}
	}
	e.refused(2, "unknown init", "set", "box", "init=upstart")
	e.refused(2, "signal", "set", "box", "halt-signal=SIGNOPE")
	e.refused(2, "unknown setting", "set", "box", "colour=blue")
	e.refused(2, "KEY=VALUE", "set", "box", "halt-signal")
	e.refused(1, "not exist", "set", "nobox", "init=auto")
	// A refused set changes nothing, even with a good setting beside it.
	e.refused(2, "unknown init", "set", "box", "halt-signal=SIGUSR1", "init=upstart")
	if st := e.state("box"); st.Halt != "SIGRTMIN+4" {
		t.Errorf("a refused set changed the halt signal: %q", st.Halt)
	}
}

// TestInstanceCannotMakeTheStateRootReadOnly: the shutdown scripts of
// sysvinit and runit remount / read-only, and an instance's / is a bind
// mount of a directory on the state root's file system, so the remount
// would reach that whole file system (the kernel applies it to the
// superblock). The daemon holds its lock file open for writing there,
// which makes the kernel refuse (EBUSY), even with the log elsewhere.
func TestInstanceCannotMakeTheStateRootReadOnly(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "state")
	if err := os.Mkdir(st, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", st, "tmpfs", 0, "size=256m,mode=0700"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(st, unix.MNT_DETACH) })
	e := startDaemon(t, "--root", st, "--log", filepath.Join(dir, "log"))
	e.root = st
	e.image("test.tar.gz", false, nil)
	e.ok("new", "box", "test.tar.gz")
	e.ok("run", "box")
	e.waitReport("box")
	r := e.client("exec", "box", "--", "busybox", "mount", "-o", "remount,ro", "/")
	if r.code == 0 {
		t.Errorf("mount -o remount,ro / inside the instance succeeded")
	}
	if err := os.WriteFile(filepath.Join(st, "still-writable"), nil, 0o600); err != nil {
		t.Fatalf("the state root's file system after the instance's remount: %v (mount said %q)", err, r.stderr)
	}
	e.ok("stop", "box")
}
