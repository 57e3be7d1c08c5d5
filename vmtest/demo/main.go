// Command demo is `make demo`: it builds the static binary, a small busybox
// image and an initramfs, boots them in QEMU with initns as PID 1, and on
// the guest's serial console creates an instance from the image, runs it,
// shows `initns ls` and powers the machine off. With INTERACTIVE=1 it hands
// the console to the person instead of powering off: type initns commands
// there, `initns poweroff` to end, or Ctrl+] to kill the VM.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"initns/internal/term"
	"initns/vmtest"
)

func main() {
	d := &demo{}
	code := d.run(os.Getenv("INTERACTIVE") == "1")
	d.cleanup()
	os.Exit(code)
}

// demo is the vmtest.TB of a program: it logs to stderr and ends the
// program on a fatal error.
type demo struct {
	cleanups []func()
	failed   bool
}

func (d *demo) Helper()                         {}
func (d *demo) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (d *demo) Cleanup(f func())                { d.cleanups = append(d.cleanups, f) }
func (d *demo) Failed() bool                    { return d.failed }
func (d *demo) Fatalf(format string, args ...any) {
	d.failed = true
	fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...)
	d.cleanup()
	os.Exit(1)
}

func (d *demo) cleanup() {
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		d.cleanups[i]()
	}
	d.cleanups = nil
}

func (d *demo) run(interactive bool) int {
	dir, err := os.MkdirTemp("", "initns-demo")
	if err != nil {
		d.Fatalf("%v", err)
	}
	d.Cleanup(func() { os.RemoveAll(dir) })
	step("building the static binary, a busybox test image and the initramfs")
	a, err := vmtest.Build(dir, true)
	if err != nil {
		d.Fatalf("%v", err)
	}
	step("booting " + vmtest.Kernel() + " in QEMU (software emulation) with initns as PID 1")
	vm := vmtest.Boot(d, vmtest.Options{Initramfs: a.Initramfs})
	took, err := vm.Console.WaitShell(150 * time.Second)
	if err != nil {
		d.Fatalf("no shell on the serial console: %v\n%s", err, vm.Console.Log())
	}
	fmt.Printf("   the guest answers on its serial console after %v\n", took.Round(100*time.Millisecond))
	for _, cmd := range []string{"readlink /proc/1/exe", "ls /var/lib/initns/images", "initns ls",
		"initns new demo busybox.tar.gz"} {
		guest(d, vm, cmd)
	}
	off := vm.Console.Offset()
	guest(d, vm, "initns run demo")
	if err := vm.Console.ExpectFrom(off, "testinit: up 1", 60*time.Second); err != nil {
		d.Fatalf("the instance did not boot: %v\n%s", err, vm.Console.Log())
	}
	fmt.Println("   (the instance's /sbin/init printed \"testinit: up 1\" on the console)")
	guest(d, vm, "initns ls")
	if interactive {
		return handOver(vm)
	}
	step("guest$ initns poweroff")
	vm.Console.Write([]byte("initns poweroff\n"))
	if err := vm.Console.ExpectFrom(off, "reboot: Power down", 90*time.Second); err != nil {
		d.Fatalf("the machine did not power off: %v\n%s", err, vm.Console.Log())
	}
	if err := vm.Wait(30 * time.Second); err != nil {
		d.Fatalf("QEMU did not exit: %v", err)
	}
	fmt.Println("   the instance was stopped, the machine powered off and QEMU exited by itself")
	return 0
}

func step(s string) { fmt.Printf("== %s\n", s) }

// guest runs cmd on the guest's console and prints it and its output.
func guest(d *demo, vm *vmtest.VM, cmd string) {
	step("guest$ " + cmd)
	out, rc, err := vm.Console.Run(cmd, 120*time.Second)
	if err != nil {
		d.Fatalf("%v\n%s", err, vm.Console.Log())
	}
	fmt.Print(indent(out))
	if rc != 0 {
		d.Fatalf("%s: exit status %d", cmd, rc)
	}
}

// indent indents command output, and shows of each line redrawn with \r
// (a progress bar) only what a terminal would show last.
func indent(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		parts := strings.Split(line, "\r")
		last := parts[len(parts)-1]
		for i := len(parts) - 1; i >= 0 && strings.TrimSpace(last) == ""; i-- {
			last = parts[i]
		}
		if s != "" {
			b.WriteString("   " + last + "\n")
		}
	}
	return b.String()
}

// handOver connects the person's terminal to the guest's console until
// QEMU exits; Ctrl+] kills the VM.
func handOver(vm *vmtest.VM) int {
	step("the serial console is yours: try `initns ls`, `initns stop demo`; `initns poweroff` ends, Ctrl+] kills the VM")
	if restore, err := term.MakeRaw(0); err == nil {
		defer restore()
	}
	vm.Console.SetTee(os.Stdout)
	vm.Console.Write([]byte("\n"))
	go func() {
		b := make([]byte, 256)
		for {
			n, err := os.Stdin.Read(b)
			if i := strings.IndexByte(string(b[:n]), 0x1d); i >= 0 {
				vm.Monitor.Command("quit")
				return
			}
			if n > 0 {
				vm.Console.Write(b[:n])
			}
			if err == io.EOF || err != nil {
				return
			}
		}
	}()
	<-vm.Done()
	return 0
}
