package initsys

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// mkroot makes a merged-/usr root like Debian's, with the given files
// (contents) and symlinks (targets, absolute ones as the instance means them).
func mkroot(t *testing.T, files, links map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"usr/sbin", "usr/lib", "usr/bin", "run", "etc/runit"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for name, target := range map[string]string{"sbin": "usr/sbin", "lib": "usr/lib", "bin": "usr/bin"} {
		os.Symlink(target, filepath.Join(root, name))
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDetect(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		links map[string]string
		want  Kind
	}{
		{"systemd by absolute link through merged /usr",
			map[string]string{"usr/lib/systemd/systemd": "\x7fELF"},
			map[string]string{"usr/sbin/init": "/lib/systemd/systemd"}, Systemd},
		{"sysvinit as a plain file",
			map[string]string{"usr/sbin/init": "\x7fELF INIT_VERSION=sysvinit-3.06"}, nil, SysVinit},
		{"runit-init",
			map[string]string{"usr/lib/runit/runit-init": "\x7fELF"},
			map[string]string{"usr/sbin/init": "/lib/runit/runit-init"}, Runit},
		{"busybox by a relative link",
			map[string]string{"usr/bin/busybox": "\x7fELF"},
			map[string]string{"usr/sbin/init": "../bin/busybox"}, Busybox},
		{"a shell script",
			map[string]string{"usr/sbin/init": "#!/bin/sh\n"}, nil, Unknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Detect(mkroot(t, c.files, c.links))
			if err != nil || got != c.want {
				t.Errorf("Detect = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// TestDetectHostile: /sbin/init may lead anywhere and be anything; the
// daemon must read only inside the root, and never block.
func TestDetectHostile(t *testing.T) {
	// A busybox on the host, outside the root, that an escaping link
	// would find.
	outside := filepath.Join(t.TempDir(), "busybox")
	os.WriteFile(outside, []byte("BusyBox v1.35"), 0o755)
	t.Run("absolute link out of the root", func(t *testing.T) {
		root := mkroot(t, nil, map[string]string{"usr/sbin/init": outside})
		if k, err := Detect(root); err == nil || k != Unknown {
			t.Errorf("Detect = %q, %v: followed a link onto the host", k, err)
		}
	})
	t.Run("dot-dot out of the root", func(t *testing.T) {
		root := mkroot(t, nil, map[string]string{"usr/sbin/init": "../../../../../../../.." + outside})
		if k, err := Detect(root); err == nil || k != Unknown {
			t.Errorf("Detect = %q, %v: followed .. out of the root", k, err)
		}
	})
	t.Run("a FIFO", func(t *testing.T) {
		root := mkroot(t, nil, nil)
		if err := unix.Mkfifo(filepath.Join(root, "usr/sbin/init"), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := Detect(root); err == nil {
			t.Error("Detect of a FIFO: no error")
		}
	})
	t.Run("a link loop", func(t *testing.T) {
		root := mkroot(t, nil, map[string]string{"usr/sbin/init": "/sbin/init"})
		if _, err := Detect(root); err == nil {
			t.Error("Detect of a link loop: no error")
		}
	})
	t.Run("no init", func(t *testing.T) {
		if _, err := Detect(mkroot(t, nil, nil)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Detect with no /sbin/init: %v, want not-exist", err)
		}
	})
}

// TestAskInitctl: a runlevel request reaches the FIFO inside the root,
// whole, through an absolute link that must not lead onto the host.
func TestAskInitctl(t *testing.T) {
	root := mkroot(t, nil, map[string]string{"dev/initctl": "/run/initctl"})
	fifo := filepath.Join(root, "run/initctl")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	target := Target{Pid: os.Getpid(), PidFD: -1, Root: root}
	if err := Ask(target, Request{Runlevel: '0'}); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(io.LimitReader(r, 1024))
	if !bytes.Equal(got, InitctlRequest('0')) {
		t.Errorf("the FIFO got %d bytes %x..., want telinit's request", len(got), got[:min(len(got), 16)])
	}
	// Nobody reading: an error at once, not a hang.
	r.Close()
	if err := Ask(target, Request{Runlevel: '6'}); !errors.Is(err, ErrNoInitctl) {
		t.Errorf("Ask with no reader: %v, want ErrNoInitctl", err)
	}
	// A regular file where the FIFO should be is not written.
	root2 := mkroot(t, map[string]string{"run/initctl": "", "dev/initctl": ""}, nil)
	if err := Ask(Target{Pid: os.Getpid(), PidFD: -1, Root: root2}, Request{Runlevel: '0'}); err == nil {
		t.Error("Ask wrote to a regular file as if it were the FIFO")
	}
}

// TestAskRunit: runit's switches are set inside the root, where Void
// links them into /run, and the host's /run is left alone.
func TestAskRunit(t *testing.T) {
	root := mkroot(t, map[string]string{"usr/lib/runit/runit-init": "\x7fELF /etc/runit/stopit"}, map[string]string{
		"usr/sbin/init":    "/lib/runit/runit-init",
		"etc/runit/stopit": "/run/runit.stopit",
		"etc/runit/reboot": "/run/runit.reboot",
	})
	target := Target{Pid: os.Getpid(), PidFD: -1, Root: root}
	mode := func(name string) os.FileMode {
		st, err := os.Stat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	// Signal 0: checks the target without sending anything.
	if err := Ask(target, Request{Runit: true, Reboot: true}); err != nil {
		t.Fatal(err)
	}
	if mode("run/runit.stopit") != 0o100 || mode("run/runit.reboot") != 0o100 {
		t.Errorf("reboot: stopit %v reboot %v, want both 0100", mode("run/runit.stopit"), mode("run/runit.reboot"))
	}
	if err := Ask(target, Request{Runit: true}); err != nil {
		t.Fatal(err)
	}
	if mode("run/runit.stopit") != 0o100 || mode("run/runit.reboot") != 0 {
		t.Errorf("poweroff: stopit %v reboot %v, want 0100 and 0", mode("run/runit.stopit"), mode("run/runit.reboot"))
	}
	for _, p := range []string{"/run/runit.stopit", "/run/runit.reboot"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was made on the host", p)
		}
	}
}

// TestAskRunitDebian: Debian's runit is built to look for /run/runit.stopit
// and /run/runit.reboot, so those are what is set.
func TestAskRunitDebian(t *testing.T) {
	root := mkroot(t, map[string]string{"usr/lib/runit/runit-init": "\x7fELF unable to create /run/runit.stopit /run/runit.reboot"},
		map[string]string{"usr/sbin/init": "/lib/runit/runit-init"})
	if err := Ask(Target{Pid: os.Getpid(), PidFD: -1, Root: root}, Request{Runit: true}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"run/runit.stopit": 0o100, "run/runit.reboot": 0} {
		st, err := os.Stat(filepath.Join(root, name))
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %v", name, st.Mode(), err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/runit/stopit")); err == nil {
		t.Error("a stray /etc/runit/stopit was left in a Debian tree")
	}
}

// TestTellContainer: systemd's container-manager file is written by Ask
// into the instance's /run when that is a tmpfs, through an absolute
// /run/host link that stays inside the root; a /run on the root's own
// file system gets nothing, which would outlive the boot.
func TestTellContainer(t *testing.T) {
	root := mkroot(t, nil, nil)
	run := filepath.Join(root, "run")
	target := Target{Pid: os.Getpid(), PidFD: -1, Root: root}
	// Signal 0: checks the target without sending anything.
	tell := Request{Container: true}
	if err := Ask(target, tell); !errors.Is(err, ErrNotTold) || !strings.Contains(err.Error(), "no tmpfs") {
		t.Fatalf("Ask with /run on the root's file system: %v, want ErrNotTold for no tmpfs", err)
	}
	if _, err := os.Lstat(filepath.Join(run, "host")); err == nil {
		t.Fatal("something was written into a /run that outlives the boot")
	}
	if err := unix.Mount("tmpfs", run, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(run, unix.MNT_DETACH)
	if err := os.Symlink("/run/elsewhere", filepath.Join(run, "host")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(run, "elsewhere"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Ask(target, tell); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(run, "elsewhere/container-manager"))
	if err != nil || string(got) != "initns\n" {
		t.Fatalf("container-manager: %q %v, want \"initns\\n\" inside the root", got, err)
	}
	if _, err := os.Lstat("/run/elsewhere"); err == nil {
		t.Error("the link was followed onto the host")
	}
	// Something planted where the file goes is removed, never opened: a
	// link to a file of the instance's stays as it was.
	planted := filepath.Join(run, "elsewhere/container-manager")
	os.Remove(planted)
	if err := os.WriteFile(filepath.Join(root, "victim"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/victim", planted); err != nil {
		t.Fatal(err)
	}
	if err := Ask(target, tell); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(planted); err != nil || !st.Mode().IsRegular() {
		t.Errorf("the planted link is still there: %v %v", st, err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "victim")); string(got) != "x" {
		t.Errorf("the link's target was written: %q", got)
	}
	if r := Plan(Systemd, 0, 0, Poweroff); !r.Container {
		t.Errorf("systemd's poweroff does not tell it it runs in a container: %+v", r)
	}
	if r := Plan(SysVinit, 0, 0, Poweroff); r.Container {
		t.Errorf("sysvinit's poweroff is told about containers: %+v", r)
	}
}
