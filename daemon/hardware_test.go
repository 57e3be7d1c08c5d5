package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeKernel makes a kernel root for --kernel-root: the running kernel's
// modules directory with one file, firmware, and a loaded nvidia module
// of version loaded ("" for none).
func fakeKernel(t *testing.T, loaded string) (dir, release string) {
	t.Helper()
	var u unix.Utsname
	unix.Uname(&u)
	release = unix.ByteSliceToString(u.Release[:])
	dir = t.TempDir()
	files := map[string]string{
		"lib/modules/" + release + "/modules.dep": "kernel/drivers/net/dummy.ko:\n",
		"lib/firmware/fake.fw":                    "firmware\n",
	}
	if loaded != "" {
		files["sys/module/nvidia/version"] = loaded + "\n"
	}
	for p, content := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, release
}

// TestKernelFilesLent: an instance without modules for the running kernel
// gets the host's read-only at the same path (through its merged /usr
// link), and the host's firmware; one with its own keeps them; ls says
// which; the host's tree is left as it was.
func TestKernelFilesLent(t *testing.T) {
	kdir, rel := fakeKernel(t, "")
	e := startDaemon(t, "--kernel-root", kdir)
	// A merged-/usr tree, as Debian's: /lib is a link to usr/lib.
	e.image("bare.tar.gz", false, map[string]string{"lib": "symlink:usr/lib", "usr/lib/os-release": "ID=test\n"})
	e.image("own.tar.gz", false, map[string]string{
		"lib/modules/" + rel + "/modules.dep": "its own\n",
		"lib/firmware/own.fw":                 "its own\n",
	})
	e.ok("new", "bare", "bare.tar.gz")
	e.ok("new", "own", "own.tar.gz")
	if m := e.state("bare").Modules; m != "host" {
		t.Errorf("ls: bare's modules %q, want host", m)
	}
	if m := e.state("own").Modules; m != "own" {
		t.Errorf("ls: own's modules %q, want own", m)
	}

	e.ok("run", "bare")
	e.waitReport("bare")
	out := e.ok("exec", "bare", "--", "sh", "-c", "cat /lib/modules/"+rel+"/modules.dep /lib/firmware/fake.fw; "+
		"touch /lib/modules/"+rel+"/new 2>&1; touch /lib/firmware/new 2>&1; grep -E ' /usr/lib/(modules/"+rel+"|firmware) ' /proc/self/mountinfo")
	for _, want := range []string{"kernel/drivers/net/dummy.ko:", "firmware", "Read-only file system",
		"/usr/lib/modules/" + rel + " ro,", "/usr/lib/firmware ro,"} {
		if !strings.Contains(out, want) {
			t.Errorf("inside bare, no %q in:\n%s", want, out)
		}
	}
	// The mount point stays, empty, in the instance's own tree; nothing
	// of the host's reached it.
	if ents, err := os.ReadDir(filepath.Join(e.rootfs("bare"), "usr/lib/modules", rel)); err != nil || len(ents) != 0 {
		t.Errorf("the mount point in bare's tree: %v, %v; want an empty directory", ents, err)
	}
	if _, err := os.Stat(filepath.Join(kdir, "lib/modules", rel, "new")); err == nil {
		t.Error("the instance wrote into the host's modules")
	}
	if m := e.state("bare").Modules; m != "host" {
		t.Errorf("ls after a boot: bare's modules %q, want host (an empty mount point is not its own)", m)
	}

	e.ok("run", "own")
	e.waitReport("own")
	out = e.ok("exec", "own", "--", "sh", "-c", "cat /lib/modules/"+rel+"/modules.dep; ls /lib/firmware; grep -c -E ' /lib/(modules|firmware)' /proc/self/mountinfo || true")
	if !strings.Contains(out, "its own") || !strings.Contains(out, "own.fw") || strings.Contains(out, "fake.fw") || !strings.HasSuffix(strings.TrimSpace(out), "0") {
		t.Errorf("inside own: want its own modules and firmware and no mount over them:\n%s", out)
	}
	e.ok("stop", "own", "--kill")
}

// TestDriverMismatch: an instance shipping NVIDIA libraries of another
// version than the loaded module boots with a warning in run's answer and
// the log; run --strict refuses it, naming both versions; a matching one
// boots without a word.
func TestDriverMismatch(t *testing.T) {
	kdir, _ := fakeKernel(t, "550.54.14")
	e := startDaemon(t, "--kernel-root", kdir)
	lib := "usr/lib/x86_64-linux-gnu/"
	e.image("old.tar.gz", false, map[string]string{lib + "libnvidia-ml.so.535.104.05": "elf", lib + "libnvidia-ml.so.1": "symlink:libnvidia-ml.so.535.104.05"})
	e.image("same.tar.gz", false, map[string]string{lib + "libnvidia-ml.so.550.54.14": "elf", lib + "libnvidia-egl-wayland.so.1.1.11": "elf"})
	e.ok("new", "old", "old.tar.gz")
	e.ok("new", "same", "same.tar.gz")

	r := e.client("run", "--strict", "old")
	if r.code != 1 || !strings.Contains(r.stderr, "535.104.05") || !strings.Contains(r.stderr, "550.54.14") || !strings.Contains(r.stderr, "--strict") {
		t.Fatalf("run --strict of a mismatch: status %d, %q; want a refusal naming both versions", r.code, r.stderr)
	}
	if st := e.state("old").State; st != "stopped" {
		t.Fatalf("after the refusal old is %s", st)
	}
	r = e.client("run", "old")
	if r.code != 0 || !strings.Contains(r.stderr, "initns: run old: warning:") || !strings.Contains(r.stderr, "535.104.05") {
		t.Fatalf("run of a mismatch: status %d, %q; want success with a warning", r.code, r.stderr)
	}
	e.waitReport("old")
	// switch boots too, and says the same.
	e.ok("stop", "old", "--kill")
	if r := e.client("switch", "old"); r.code != 0 || !strings.Contains(r.stderr, "initns: switch old: warning:") {
		t.Fatalf("switch to a mismatch: status %d, %q; want success with a warning", r.code, r.stderr)
	}
	e.waitReport("old")
	log, _ := os.ReadFile(filepath.Join(e.root, "log"))
	if !strings.Contains(string(log), "driver mismatch") {
		t.Errorf("no driver mismatch in the log:\n%s", log)
	}
	r = e.client("run", "--strict", "same")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("run --strict of a matching userspace: status %d, %q", r.code, r.stderr)
	}
	e.waitReport("same")
	e.ok("stop", "same", "--kill")
}

// TestContainerSetting: the init is told container= empty by default;
// set container=NAME names a manager, none leaves the word out, auto
// goes back; a bad value changes nothing.
func TestContainerSetting(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, nil)
	e.ok("new", "box", "test.tar.gz")
	for _, c := range []struct{ set, want string }{
		{"", "HOME=/ TERM=linux container="},
		{"container=lxc", "HOME=/ TERM=linux container=lxc"},
		{"container=none", "HOME=/ TERM=linux"},
		{"container=auto", "HOME=/ TERM=linux container="},
	} {
		if c.set != "" {
			e.ok("set", "box", c.set)
		}
		e.ok("run", "box")
		if env := strings.Join(e.waitReport("box").Env, " "); env != c.want {
			t.Errorf("after set %q: init's environment %q, want %q", c.set, env, c.want)
		}
		e.ok("stop", "box", "--kill")
	}
	e.refused(2, "container manager", "set", "box", "container=a/b")
}
