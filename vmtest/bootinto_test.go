package vmtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"initns/cgroupfs"
)

// TestBootIntoInstance boots the guest with initns.run=box on the kernel
// command line: PID 1 boots that instance by itself, with nothing typed.
// The state root holding box is made on the host by the real daemon and
// client, then appended to the initramfs as a second cpio archive.
func TestBootIntoInstance(t *testing.T) {
	t.Parallel()
	a := artifacts(t)
	initramfs := withStateRoot(t, a, "box")
	vm := Boot(t, Options{Initramfs: initramfs, Cmdline: "initns.run=box", Tee: teeFor(t)})
	g := &guest{t: t, vm: vm}
	if err := vm.Console.ExpectString("testinit: up 1", 150*time.Second); err != nil {
		t.Fatalf("initns.run=box did not boot the instance: %v", err)
	}
	g.waitUp()
	if st := g.instanceState("box"); st != "running" {
		t.Fatalf("state %q, want running", st)
	}
}

// withStateRoot returns a copy of the initramfs with /var/lib/initns
// holding instance name, made from the busybox test image.
func withStateRoot(t *testing.T, a *Artifacts, name string) string {
	t.Helper()
	return stateRoot(t, a, func(client func(args ...string), root string) {
		client("new", name, "busybox.tar.gz")
	})
}

// stateRoot returns a copy of the initramfs with /var/lib/initns made by
// setup, which drives the real client (client fails the test) against a
// real daemon on that state root, on the host; images/busybox.tar.gz is
// the busybox test image.
func stateRoot(t *testing.T, a *Artifacts, setup func(client func(args ...string), root string)) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "tree", "var/lib/initns")
	if err := os.MkdirAll(filepath.Join(root, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", a.Image, filepath.Join(root, "images", "busybox.tar.gz")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	sock := filepath.Join(dir, "initns.sock")
	mnt, err := cgroupfs.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	daemon := &exec.Cmd{Path: a.Binary, Args: []string{"init", "--root", root, "--socket", sock,
		"--cgroup", filepath.Join(mnt, fmt.Sprintf("initns-vmtest-%d", os.Getpid())), "--console", "/dev/null", "--hotkey=false"}}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		daemon.Process.Signal(syscall.SIGTERM)
		daemon.Wait()
		os.Remove(filepath.Join(mnt, fmt.Sprintf("initns-vmtest-%d", os.Getpid())))
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the host daemon never listened")
		}
	}
	setup(func(args ...string) {
		client := &exec.Cmd{Path: a.Binary, Args: append([]string{"initns", "--socket", sock}, args...)}
		if out, err := client.CombinedOutput(); err != nil {
			t.Fatalf("initns %v on the host: %v %s", args, err, out)
		}
	}, root)
	out := filepath.Join(dir, "initramfs")
	if o, err := exec.Command("cp", a.Initramfs, out).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, o)
	}
	// The kernel unpacks concatenated archives in turn, so an uncompressed
	// cpio after the compressed one adds the state root; it must start on
	// a 4-byte boundary (zero padding is skipped).
	pad := exec.Command("sh", "-c", "n=$(stat -c %s initramfs); head -c $(( (4 - n % 4) % 4 )) /dev/zero >> initramfs")
	pad.Dir = dir
	if o, err := pad.CombinedOutput(); err != nil {
		t.Fatalf("pad: %v %s", err, o)
	}
	pack := exec.Command("sh", "-c", "cd tree && find . -mindepth 1 | cpio -o -H newc --quiet >> ../initramfs")
	pack.Dir = dir
	if o, err := pack.CombinedOutput(); err != nil {
		t.Fatalf("cpio: %v %s", err, o)
	}
	return out
}
