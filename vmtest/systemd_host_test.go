package vmtest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSystemdStopLeavesTheMachine boots the Debian systemd tree on this
// host (no VM) under a daemon of its own and stops it with `initns stop`.
// A systemd that takes itself for the machine ends in systemd-shutdown,
// which turns off all swap and detaches every loop, device-mapper and MD
// device not in use, the machine's own and other systems' included; it
// detached a loop device of this host's before the daemon told it that it
// runs in a container. The state root is on a tmpfs of the test's own, so
// that a read-only remount of it, which that same path tries, would touch
// nothing else.
func TestSystemdStopLeavesTheMachine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fs := filepath.Join(dir, "fs")
	if err := os.Mkdir(fs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", fs, "tmpfs", 0, "size=1g"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(fs, unix.MNT_DETACH) })
	bin := filepath.Join(dir, "initns.bin")
	if err := BuildBinary(bin); err != nil {
		t.Fatal(err)
	}
	tarPath, err := DistroTar("systemd")
	if err != nil {
		t.Fatalf("the systemd tree: %v", err)
	}
	d, err := startHostDaemon(t, bin, fs)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if err := linkOrCopy(tarPath, filepath.Join(d.root, "images", "systemd.tar")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"new", DistroInstance, "systemd.tar"}, {"run", DistroInstance}} {
		if out, err := d.client(args...); err != nil {
			t.Fatalf("initns %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	state := ""
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, _ := d.client("exec", DistroInstance, "--", "systemctl", "is-system-running")
		if state = strings.TrimSpace(out); state == "running" || state == "degraded" {
			break
		}
	}
	if state != "running" && state != "degraded" {
		t.Fatalf("systemd never came up: is-system-running says %q", state)
	}
	backing := filepath.Join(fs, "loop.img")
	if err := os.WriteFile(backing, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", backing).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	loop := strings.TrimSpace(string(out))
	defer exec.Command("losetup", "-d", loop).Run()
	if out, err := d.client("stop", DistroInstance); err != nil {
		t.Fatalf("initns stop: %v: %s", err, out)
	}
	if out, _ := exec.Command("losetup", "-j", backing).CombinedOutput(); !strings.Contains(string(out), loop) {
		t.Errorf("the instance's shutdown detached this host's %s (losetup -j: %q)", loop, out)
	}
	out2, err := d.client("ls", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var ls struct {
		Instances []struct{ Name, State, Ended string }
	}
	if err := json.Unmarshal([]byte(out2), &ls); err != nil {
		t.Fatalf("ls --json: %v\n%s", err, out2)
	}
	found := false
	for _, in := range ls.Instances {
		if in.Name == DistroInstance {
			found = true
			if in.State != "stopped" || in.Ended != "powered off" {
				t.Errorf("after stop: %s, ended %q; want stopped, powered off", in.State, in.Ended)
			}
		}
	}
	if !found {
		t.Errorf("ls --json lists no %s:\n%s", DistroInstance, out2)
	}
	if _, err := os.Lstat(filepath.Join(d.root, "rootfs", DistroInstance, "run/host")); err == nil {
		t.Error("run/host was left in the tree, where the next boot would take itself for a container")
	}
}
