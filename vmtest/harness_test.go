package vmtest

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestHarness proves the harness on its own, with a busybox script as
// /init: the guest boots, the console runs commands and returns their
// output and status, the monitor's system_reset boots the guest again, and
// a key sent through the monitor reaches the guest's PS/2 keyboard (with no
// init taking Ctrl+Alt+Del, the kernel reboots at once).
func TestHarness(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, err := Build(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	vm := Boot(t, Options{Initramfs: a.Initramfs, AllowReboot: true, Tee: teeFor(t)})
	if _, err := vm.Console.WaitShell(90 * time.Second); err != nil {
		t.Fatal(err)
	}
	out, rc, err := vm.Console.Run("echo one two; false", 20*time.Second)
	if err != nil || rc != 1 || out != "one two\n" {
		t.Fatalf("run: out %q rc %d err %v; want \"one two\\n\" 1 nil", out, rc, err)
	}
	out, rc, err = vm.Console.Run("cat /proc/1/cmdline", 20*time.Second)
	if err != nil || rc != 0 || !strings.HasPrefix(out, "/bin/sh") {
		t.Fatalf("pid 1: out %q rc %d err %v; want the /init script", out, rc, err)
	}
	if _, err := vm.Monitor.Command("system_reset"); err != nil {
		t.Fatal(err)
	}
	if err := vm.Console.ExpectString("SeaBIOS", 60*time.Second); err != nil {
		t.Fatalf("system_reset did not reset the machine: %v", err)
	}
	if _, err := vm.Console.WaitShell(90 * time.Second); err != nil {
		t.Fatalf("no shell after system_reset: %v", err)
	}
	if _, err := vm.Monitor.Command("sendkey ctrl-alt-delete"); err != nil {
		t.Fatal(err)
	}
	if err := vm.Console.ExpectString("reboot: Restarting system", 60*time.Second); err != nil {
		t.Fatalf("ctrl-alt-delete did not reboot the guest: %v", err)
	}
	// QEMU closes the monitor as it quits: no prompt follows.
	vm.Monitor.Command("quit")
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Fatalf("qemu did not exit on the monitor's quit: %v", err)
	}
}

// teeFor copies the console to stderr as it comes when INITNS_VM_TEE=1, to
// watch a guest while debugging.
func teeFor(t *testing.T) io.Writer {
	if os.Getenv("INITNS_VM_TEE") == "1" {
		return os.Stderr
	}
	return nil
}
