package vmtest

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	built     *Artifacts
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// artifacts builds the binary, image and initramfs once for all tests.
func artifacts(t *testing.T) *Artifacts {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "initns-vmbuild"); buildErr == nil {
			built, buildErr = Build(buildDir, true)
		}
	})
	if buildErr != nil {
		t.Fatalf("build the guest: %v", buildErr)
	}
	return built
}

// guest is a booted VM whose PID 1 is initns, with test helpers.
type guest struct {
	t  *testing.T
	vm *VM
	// socketUptime is the guest's uptime when the socket appeared.
	socketUptime time.Duration
}

// bootGuest boots the initramfs with initns as PID 1 and waits for the
// host shell initns keeps on ttyS0 and for the socket. With allowReboot a
// reboot of the guest boots it again instead of ending QEMU.
func bootGuest(t *testing.T, cmdline string, allowReboot bool) *guest {
	a := artifacts(t)
	vm := Boot(t, Options{Initramfs: a.Initramfs, Cmdline: cmdline, AllowReboot: allowReboot, Tee: teeFor(t)})
	g := &guest{t: t, vm: vm}
	g.waitUp()
	return g
}

// waitUp waits for the shell and the socket of a (re)booting guest.
func (g *guest) waitUp() {
	g.t.Helper()
	took, err := g.vm.Console.WaitShell(150 * time.Second)
	if err != nil {
		g.t.Fatalf("the shell initns keeps on ttyS0 (initns.shell=ttyS0) never answered: %v", err)
	}
	g.t.Logf("host: shell answering after %v", took.Round(time.Millisecond))
	g.socketUptime = g.socketReady()
	g.t.Logf("guest: boot to socket ready (kernel uptime when /run/initns.sock was created): %v", g.socketUptime.Round(time.Millisecond))
}

// powerOffBySignal sends sig to PID 1, which must power the machine off
// gracefully, and waits for QEMU to exit by itself.
func (g *guest) powerOffBySignal(sig string) {
	g.t.Helper()
	off := g.vm.Console.Offset()
	// The shell dies with the machine: no end marker to wait for.
	g.vm.Console.Write([]byte("kill -" + sig + " 1\n"))
	g.expect(off, "reboot: Power down", "SIG"+sig+" to PID 1 did not power the machine off", 60*time.Second)
	if err := g.vm.Wait(30 * time.Second); err != nil {
		g.t.Fatalf("QEMU did not exit after the poweroff: %v", err)
	}
	if strings.Contains(g.vm.Console.Log(), "Kernel panic") {
		g.t.Error("the kernel panicked")
	}
}

// with returns the guest helpers failing t (a subtest) instead.
func (g *guest) with(t *testing.T) *guest { c := *g; c.t = t; return &c }

// sh runs a command on the guest shell and fails the test if it fails.
func (g *guest) sh(cmd string) string {
	g.t.Helper()
	out, rc := g.shRC(cmd)
	if rc != 0 {
		g.t.Fatalf("guest: %s: exit status %d, output:\n%s", cmd, rc, out)
	}
	return out
}

// shRC runs a command on the guest shell and returns output and status.
func (g *guest) shRC(cmd string) (string, int) {
	g.t.Helper()
	out, rc, err := g.vm.Console.Run(cmd, 90*time.Second)
	if err != nil {
		g.t.Fatalf("guest: %v", err)
	}
	return out, rc
}

// expect waits for s on the console after offset.
func (g *guest) expect(offset int, s, why string, timeout time.Duration) {
	g.t.Helper()
	if err := g.vm.Console.ExpectFrom(offset, s, timeout); err != nil {
		g.t.Fatalf("%s: %v", why, err)
	}
}

// socketReady waits for the socket and returns the guest's uptime at its
// creation: the uptime now less the age of the socket file, both read in
// the guest (a file touched now gives the present with nanoseconds, which
// busybox date cannot).
func (g *guest) socketReady() time.Duration {
	g.t.Helper()
	out := g.sh("i=0; while [ ! -S /run/initns.sock ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; " +
		"touch /tmp/.now; cat /proc/uptime; stat -c %y /tmp/.now /run/initns.sock")
	f := strings.Fields(out)
	if len(f) != 8 {
		g.t.Fatalf("no socket at /run/initns.sock within 60 s of the shell: %q", out)
	}
	up, err := strconv.ParseFloat(f[0], 64)
	now, err1 := time.Parse("2006-01-02 15:04:05.999999999 -0700", strings.Join(f[2:5], " "))
	sock, err2 := time.Parse("2006-01-02 15:04:05.999999999 -0700", strings.Join(f[5:8], " "))
	if err != nil || err1 != nil || err2 != nil {
		g.t.Fatalf("parse uptime and times %q: %v %v %v", out, err, err1, err2)
	}
	return time.Duration(up*float64(time.Second)) - now.Sub(sock)
}

// compat sends compatibility-mode requests with sockcat and returns the
// answers.
func (g *guest) compat(requests ...string) string {
	g.t.Helper()
	cmd := "sockcat /run/initns.sock"
	for _, r := range requests {
		cmd += fmt.Sprintf(" '%s'", r)
	}
	return g.sh(cmd)
}

// instanceState returns the STATE column of `initns ls` for name.
func (g *guest) instanceState(name string) string {
	g.t.Helper()
	out := g.sh("initns ls")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+(\S+)`).FindStringSubmatch(out)
	if m == nil {
		g.t.Fatalf("initns ls has no line for %s:\n%s", name, out)
	}
	return m[1]
}
