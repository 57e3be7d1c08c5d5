package vmtest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// BaseCmdline is the kernel command line every test guest gets: the serial
// console, a host shell on it kept by the daemon, the hidden debug request,
// a reboot (which -no-reboot turns into QEMU's exit) instead of a hang
// on a kernel panic, such as the one a dying PID 1 causes, and
// no_timer_check: under emulation on a loaded host the kernel's check of
// the IO-APIC timer can fail and panic the guest at boot (seen here at a
// load average of 19).
const BaseCmdline = "console=ttyS0 initns.shell=ttyS0 initns.debug=1 panic=-1 quiet no_timer_check"

// Options says what to boot.
type Options struct {
	Kernel    string // default: Kernel()
	Initramfs string // required
	Cmdline   string // appended to BaseCmdline
	MemoryMB  int    // default 512
	// AllowReboot lets a guest reboot boot the guest again; by default
	// (-no-reboot) QEMU exits instead, as it does on a poweroff.
	AllowReboot bool
	// Drives are disk image files, attached as virtio disks
	// (-drive file=F,format=raw,if=virtio): /dev/vda, /dev/vdb, ...
	Drives []string
	// Tee, if not nil, gets the console output as it arrives.
	Tee io.Writer
	// Serial2, if set, is a path where QEMU listens (a unix socket) for
	// the guest's second serial port, ttyS1.
	Serial2 string
}

// VM is a running QEMU guest, driven over its serial console and monitor.
type VM struct {
	Console *Console
	Monitor *Monitor
	Started time.Time

	cmd  *exec.Cmd
	dir  string
	done chan struct{}
	err  error // QEMU's exit, valid once done is closed
}

// TB is what Boot needs of a test: *testing.T and *testing.B satisfy it,
// and so can a program (the demo) that boots a VM outside of a test.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	Failed() bool
}

// Kernel returns the newest /boot/vmlinuz-*, or "" when there is none.
func Kernel() string {
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	sort.Strings(ks)
	if len(ks) == 0 {
		return ""
	}
	return ks[len(ks)-1]
}

// Boot starts QEMU (software emulation, so it runs on any machine) and
// connects to its console and monitor. The test fails if QEMU cannot start.
// At cleanup QEMU is killed if still running and, if the test failed, the
// whole console log is written to the test output.
func Boot(t TB, o Options) *VM {
	t.Helper()
	if o.Kernel == "" {
		o.Kernel = Kernel()
	}
	if _, err := os.Stat(o.Kernel); o.Kernel == "" || err != nil {
		t.Fatalf("vm: no kernel to boot (%q): apt-get install linux-image-amd64", o.Kernel)
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatalf("vm: %v: apt-get install qemu-system-x86", err)
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = 512
	}
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "initns-vm")
	if err != nil {
		t.Fatalf("vm: %v", err)
	}
	vm := &VM{dir: dir, done: make(chan struct{})}
	mon := filepath.Join(dir, "monitor.sock")
	args := []string{
		"-accel", "tcg", "-m", fmt.Sprint(o.MemoryMB), "-smp", "1", "-nographic",
		"-serial", "stdio", "-monitor", "unix:" + mon + ",server=on,wait=off",
		"-kernel", o.Kernel, "-initrd", o.Initramfs,
		"-append", strings.TrimSpace(BaseCmdline + " " + o.Cmdline)}
	if o.Serial2 != "" {
		args = append(args, "-serial", "unix:"+o.Serial2+",server=on,wait=off")
	}
	for _, f := range o.Drives {
		args = append(args, "-drive", "file="+f+",format=raw,if=virtio")
	}
	if !o.AllowReboot {
		args = append(args, "-no-reboot")
	}
	vm.cmd = exec.Command("qemu-system-x86_64", args...)
	vm.cmd.Stderr = &prefixWriter{t: t}
	in, err := vm.cmd.StdinPipe()
	if err != nil {
		t.Fatalf("vm: %v", err)
	}
	out, err := vm.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("vm: %v", err)
	}
	vm.Started = time.Now()
	if err := vm.cmd.Start(); err != nil {
		t.Fatalf("vm: start qemu-system-x86_64 (apt-get install qemu-system-x86): %v", err)
	}
	vm.Console = NewConsole(out, in, o.Tee)
	go func() { vm.err = vm.cmd.Wait(); close(vm.done) }()
	t.Cleanup(func() { vm.cleanup(t) })
	if vm.Monitor, err = DialMonitor(mon, 30*time.Second); err != nil {
		t.Fatalf("vm: %v", err)
	}
	return vm
}

func (vm *VM) cleanup(t TB) {
	if vm.cmd.Process != nil {
		vm.cmd.Process.Kill()
	}
	<-vm.done
	if vm.Monitor != nil {
		vm.Monitor.Close()
	}
	os.RemoveAll(vm.dir)
	if t.Failed() {
		t.Logf("vm: whole console log:\n%s", vm.Console.Log())
	}
}

// Done is closed when QEMU has exited.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// ErrRunning is returned by Wait when QEMU has not exited in time.
var ErrRunning = errors.New("qemu still running")

// Wait waits for QEMU to exit by itself (the guest powered off or, with
// -no-reboot, rebooted) and returns its exit error (nil for status 0).
func (vm *VM) Wait(timeout time.Duration) error {
	select {
	case <-vm.done:
		return vm.err
	case <-time.After(timeout):
		return fmt.Errorf("after %v: %w", timeout, ErrRunning)
	}
}

// prefixWriter sends QEMU's own messages to the test log.
type prefixWriter struct{ t TB }

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.t.Logf("qemu: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
