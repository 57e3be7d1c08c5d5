package vmtest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	distroOnce  sync.Once
	distroRamfs string
	distroErr   error
)

// distroInitramfs builds the initramfs with the disk's modules once.
func distroInitramfs(t *testing.T) string {
	t.Helper()
	a := artifacts(t)
	distroOnce.Do(func() { distroRamfs, distroErr = DistroInitramfs(buildDir, a) })
	if distroErr != nil {
		t.Fatalf("build the distro initramfs: %v", distroErr)
	}
	return distroRamfs
}

// distroCase is what one init system's tree must do as an instance.
type distroCase struct {
	init string
	// detected is what `ls` names the init: the openrc tree's /sbin/init
	// is sysvinit's.
	detected string
	// ready checks, from the host shell, that the init reached its
	// default state.
	ready func(g *guest)
	// shutdown are messages the init (or its scripts) print on the
	// console while it goes down, in order.
	shutdown []string
	// shell: `initns shell` is tried in the tree.
	shell bool
}

var distroCases = []distroCase{
	{init: "systemd", detected: "systemd", ready: systemdReady,
		shutdown: []string{"Stopping", "Reached target", "Power Off"}, shell: true},
	{init: "sysvinit", detected: "sysvinit", ready: runlevelReady("N 2"),
		shutdown: []string{"INIT: Switching to runlevel: 0", "Will now halt"}},
	{init: "openrc", detected: "sysvinit", ready: openrcReady,
		shutdown: []string{"INIT: Switching to runlevel: 0", "INIT: Sending processes configured via /etc/inittab the TERM signal"}},
	{init: "runit", detected: "runit", ready: runitReady,
		shutdown: []string{"Waiting for services to stop...", "- runit: leave stage: /etc/runit/3", "- runit: power off..."}},
	{init: "busybox", detected: "busybox", ready: busyboxReady,
		shutdown: []string{"The system is going down NOW!", "busybox init: the system is going down"}},
}

// TestDistro boots real Debian trees (testdata/distro/mkdistro.sh), one
// per init system, as the instance deb of initns as PID 1, each on its own
// guest with the state root on a virtio ext4 disk: the init is detected,
// the tree reaches a login prompt and its default state, exec works and
// returns the command's status, the hostname stays the instance's, stop
// is graceful and quick in the init's own language, and a reboot or
// poweroff inside behaves as SPEC §6 says.
func TestDistro(t *testing.T) {
	t.Parallel()
	for _, c := range distroCases {
		t.Run(c.init, func(t *testing.T) {
			t.Parallel()
			testDistro(t, c)
		})
	}
}

func testDistro(t *testing.T, c distroCase) {
	ramfs := distroInitramfs(t)
	start := time.Now()
	// The systemd tree's guest also runs the hardware checks (README,
	// "Hardware"): the kernel's package in the instance, and a boot
	// partition of the guest's.
	hardware := c.init == "systemd"
	var extra, drives []string
	if hardware {
		deb, err := KernelDeb()
		if err != nil {
			t.Fatal(err)
		}
		boot, err := BootDisk(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		extra, drives = []string{deb}, []string{boot}
	}
	disk, err := DistroDisk(context.Background(), t.TempDir(), c.init, extra...)
	if err != nil {
		t.Fatalf("the %s disk: %v", c.init, err)
	}
	t.Logf("host: %s tree and disk ready in %v", c.init, time.Since(start).Round(time.Millisecond))
	// console=tty0 last: /dev/console is the VT in front, as on a PC, so
	// the instance's init and its gettys own tty1 and the host shell keeps
	// ttyS0. With /dev/console on ttyS0, sysvinit gives its boot scripts
	// the console as their controlling terminal and hangs up the host
	// shell's session there.
	vm := Boot(t, Options{Initramfs: ramfs, Cmdline: "rdinit=" + DistroRdinit + " " + distroConsole, MemoryMB: 1024,
		Drives: append([]string{disk}, drives...), AllowReboot: false, Tee: teeFor(t)})
	g := &guest{t: t, vm: vm}
	g.waitUp()
	if out := g.sh("initns ls instance"); strings.TrimSpace(out) != DistroInstance {
		t.Fatalf("initns ls instance on the disk's state root: %q, want %q\n%s", out, DistroInstance, g.sh("cat /proc/mounts"))
	}
	login := "deb-" + c.init + " login:"

	t.Run("run", func(t *testing.T) {
		g := g.with(t)
		g.runToLogin(login, "initns run to login")
		if st := g.distroState().State; st != "running" {
			t.Errorf("state %q, want running", st)
		}
	})
	t.Run("ls-init", func(t *testing.T) { g.with(t).checkInitColumn(c.detected) })
	t.Run("ready", func(t *testing.T) { c.ready(g.with(t)) })
	if c.shell {
		t.Run("shell", func(t *testing.T) { g.with(t).loginShell() })
	}
	t.Run("exec", func(t *testing.T) {
		g := g.with(t)
		if out, rc := g.shRC("initns exec " + DistroInstance + " -- sh -c 'exit 7'"); rc != 7 {
			t.Errorf("exec sh -c 'exit 7': status %d, want 7: %s", rc, out)
		}
		if out, rc := g.shRC("initns exec " + DistroInstance + " -- /no/such/command"); rc == 0 {
			t.Errorf("exec of a missing command: status 0, want a failure: %s", out)
		}
	})
	t.Run("hostname", func(t *testing.T) {
		g := g.with(t)
		want := "deb-" + c.init
		if out, rc := g.shRC("initns exec " + DistroInstance + " -- hostname"); rc != 0 || strings.TrimSpace(out) != want {
			t.Errorf("hostname inside: %q (status %d), want %q", out, rc, want)
		}
		if host := strings.TrimSpace(g.sh("hostname")); host == want {
			t.Errorf("the host's hostname is %q: the instance's leaked out of its UTS namespace", host)
		}
	})
	if hardware {
		t.Run("modules", func(t *testing.T) { g.with(t).checkLentModules() })
		t.Run("hotplug", func(t *testing.T) { g.with(t).hotplugNIC() })
		t.Run("kernel-install", func(t *testing.T) { g.with(t).installKernel(filepath.Base(extra[0])) })
	}
	t.Run("stop", func(t *testing.T) { g.with(t).distroStop(c.shutdown) })
	if hardware {
		t.Run("driver-check", func(t *testing.T) { g.with(t).driverCheck(login) })
		t.Run("own-modules", func(t *testing.T) { g.with(t).checkOwnModules() })
	}
	t.Run("reboot-inside", func(t *testing.T) {
		g := g.with(t)
		if g.distroState().State != "running" { // driver-check booted it
			g.runToLogin(login, "initns run again to login")
		}
		before := g.distroState()
		g.clearVT(1)
		off := g.vm.Console.Offset()
		start := time.Now()
		out, rc := g.shRC("initns exec " + DistroInstance + " -- reboot")
		t.Logf("exec reboot: status %d %s", rc, strings.TrimSpace(out))
		g.waitLogin(off, start, login, "exec reboot to login")
		after := g.distroState()
		if after.State != "running" || after.Pid == before.Pid || after.Pid == 0 {
			t.Errorf("after the reboot inside: state %q pid %d (before: pid %d); want running with a new init", after.State, after.Pid, before.Pid)
		}
	})
	t.Run("poweroff-inside", func(t *testing.T) {
		g := g.with(t)
		start := time.Now()
		out, rc := g.shRC("initns exec " + DistroInstance + " -- poweroff")
		t.Logf("exec poweroff: status %d %s", rc, strings.TrimSpace(out))
		st := g.waitStopped(distroStopTimeout)
		t.Logf("guest: poweroff inside to stopped: %v (ended: %s)", time.Since(start).Round(time.Millisecond), st.Ended)
		if st.Ended != "powered off" {
			t.Errorf("after poweroff inside: ended %q, want \"powered off\"", st.Ended)
		}
	})
}

// loginShell: `initns shell deb`, driven through a pty of its own
// (vmtest/ptyrun), is root's login shell on a terminal of the instance's
// devpts, and systemctl works there.
func (g *guest) loginShell() {
	g.t.Helper()
	host := strings.TrimSpace(g.sh("stat -c %d /dev/pts"))
	typed := []string{
		`echo TTY=$(tty) PTS=$(stat -c %d /dev/pts) DEV=$(stat -c %d $(tty)) ID=$(id -u) HOME=$HOME ARGV0=$0`,
		`systemctl status --no-pager | head -n 4; echo STATUS=${PIPESTATUS[0]}`,
		`exit 5`,
	}
	out, rc := g.shRC("printf '%s\\n' '" + strings.Join(typed, "' '") + "' | ptyrun -wait '# ' initns shell " + DistroInstance)
	g.t.Logf("guest: initns shell %s (the host's devpts is device %s):\n%s", DistroInstance, host, out)
	if rc != 5 {
		g.t.Errorf("exit 5 in the shell: status %d, want 5", rc)
	}
	m := regexp.MustCompile(`TTY=(/dev/pts/\d+) PTS=(\d+) DEV=(\d+) ID=0 HOME=/root ARGV0=-bash`).FindStringSubmatch(out)
	switch {
	case m == nil:
		g.t.Errorf("no root login shell (-bash) with a tty of /dev/pts in it")
	case m[2] != m[3]:
		g.t.Errorf("the shell's terminal %s is on device %s, not the instance's devpts (%s)", m[1], m[3], m[2])
	case m[2] == host:
		g.t.Errorf("the shell's terminal %s is on the host's devpts (%s), not one of the instance's", m[1], host)
	}
	if !strings.Contains(out, "State: running") || !strings.Contains(out, "STATUS=0") {
		g.t.Errorf("systemctl status in the shell: want State: running and status 0")
	}
}

// systemdReady: the system is running, with no failed unit.
func systemdReady(g *guest) {
	g.t.Helper()
	// The boot may take a while under emulation: more than shRC's 90 s.
	out, rc, err := g.vm.Console.Run("initns exec "+DistroInstance+" -- systemctl is-system-running --wait", 240*time.Second)
	if err != nil {
		g.t.Fatalf("guest: %v", err)
	}
	if strings.TrimSpace(out) != "running" || rc != 0 {
		g.t.Errorf("systemctl is-system-running --wait: %q, status %d; want running", out, rc)
	}
	if out, rc := g.shRC("initns exec " + DistroInstance + " -- systemctl --failed --no-legend"); rc != 0 || strings.TrimSpace(out) != "" {
		g.t.Errorf("systemctl --failed (status %d):\n%s\nwant no failed unit", rc, out)
	}
	// What systemd makes of its surroundings (README, "Booting, as
	// built"): told container= (empty), the machine it runs on, not a
	// container, which it would guess from its cgroup namespace.
	virt, _ := g.shRC("initns exec " + DistroInstance + " -- systemctl show --property=Virtualization")
	if v := strings.TrimSpace(virt); strings.Contains(v, "container") || !strings.HasPrefix(v, "Virtualization=") {
		g.t.Errorf("systemd thinks it runs in %q, want the machine's own (no container)", v)
	}
	udev, _ := g.shRC("initns exec " + DistroInstance + " -- systemctl status --no-pager --lines=0 systemd-udevd")
	env, _ := g.shRC("initns exec " + DistroInstance + " -- sh -c 'tr \\\\0 \" \" </proc/1/environ'")
	g.t.Logf("guest: systemd's %s; its environment: %s\n%s", strings.TrimSpace(virt), strings.TrimSpace(env), udev)
}

// runlevelReady: sysvinit's runlevel(8) says want.
func runlevelReady(want string) func(g *guest) {
	return func(g *guest) {
		g.t.Helper()
		g.waitExec("runlevel", want)
	}
}

// openrcReady: OpenRC's runlevel is default.
func openrcReady(g *guest) {
	g.t.Helper()
	g.waitExec("rc-status -r", "default")
}

// runitReady: runsvdir supervises the gettys of the default runlevel.
func runitReady(g *guest) {
	g.t.Helper()
	out := g.sh("initns exec " + DistroInstance + " -- sh -c 'cat /proc/[0-9]*/comm 2>/dev/null; true'")
	if !regexp.MustCompile(`(?m)^runsvdir$`).MatchString(out) {
		g.t.Errorf("no runsvdir among the instance's processes:\n%s", out)
	}
	for _, sv := range []string{"getty-tty1", "getty-tty2"} {
		if out, rc := g.shRC("initns exec " + DistroInstance + " -- sv status " + sv); rc != 0 || !strings.HasPrefix(out, "run: ") {
			g.t.Errorf("sv status %s: %q (status %d), want run: ...", sv, out, rc)
		}
	}
}

// busyboxReady: the tree's rcS ran to its end.
func busyboxReady(g *guest) {
	g.t.Helper()
	g.waitExec("cat /run/runlevel", "default")
}

// waitExec runs cmd in the instance until it prints want (the init may
// still be on its way), for up to a minute.
func (g *guest) waitExec(cmd, want string) {
	g.t.Helper()
	var out string
	var rc int
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		if out, rc = g.shRC("initns exec " + DistroInstance + " -- " + cmd); rc == 0 && strings.TrimSpace(out) == want {
			return
		}
	}
	g.t.Errorf("%s in the instance: %q (status %d), want %q", cmd, out, rc, want)
}

// distroInstance is the instance's row of `initns ls --json`.
type distroInstance struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Pid   int    `json:"pid"`
	Ended string `json:"ended"`
	Init  string `json:"init"`
}

// distroState returns the instance's row of `initns ls --json`.
func (g *guest) distroState() distroInstance {
	g.t.Helper()
	// One line: the instance's init writes to the same serial line, and
	// its messages may come between the lines of a longer answer.
	out := g.sh("initns ls --json | tr -d '\\n'; echo")
	line := regexp.MustCompile(`(?m)^\{.*\}$`).FindString(out)
	var l struct {
		Instances []distroInstance `json:"instances"`
	}
	if err := json.Unmarshal([]byte(line), &l); err != nil {
		g.t.Fatalf("initns ls --json: %v\n%s", err, out)
	}
	for _, in := range l.Instances {
		if in.Name == DistroInstance {
			return in
		}
	}
	g.t.Fatalf("initns ls --json has no instance %s:\n%s", DistroInstance, out)
	return distroInstance{}
}

// checkInitColumn: `ls --json` and `ls` name the detected init.
func (g *guest) checkInitColumn(want string) {
	g.t.Helper()
	if got := g.distroState().Init; got != want {
		g.t.Errorf("initns ls --json: init %q, want %q", got, want)
	}
	out := g.sh("initns ls")
	lines := strings.Split(out, "\n")
	header := strings.Fields(lines[0])
	col := -1
	for i, h := range header {
		if h == "INIT" {
			col = i
		}
	}
	if col < 0 {
		g.t.Errorf("initns ls has no INIT column:\n%s", out)
		return
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > col && f[0] == DistroInstance && f[col] != want {
			g.t.Errorf("initns ls: INIT %q, want %q:\n%s", f[col], want, out)
		}
	}
}

// runToLogin types `initns run` and waits for the login prompt, logging
// how long that took.
func (g *guest) runToLogin(login, what string) {
	g.t.Helper()
	g.clearVT(1)
	off := g.vm.Console.Offset()
	start := time.Now()
	g.sh("initns run " + DistroInstance)
	g.waitLogin(off, start, login, what)
}

// waitLogin waits for the login prompt on tty1 (the Debian gettys are on
// the VTs; the serial line, /dev/console, is the host shell's and the
// instance must leave it alone) and logs the time since start. It polls
// in short rounds: an init that makes /dev/console (ttyS0) the
// controlling terminal of its boot scripts, as sysvinit does, hangs up
// the host shell's session, and initns starts a new shell, which is
// waited for.
func (g *guest) waitLogin(off int, start time.Time, login, what string) {
	g.t.Helper()
	poll := "i=0; while ! grep -q '" + login + "' /dev/vcs1 && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; grep -q '" + login + "' /dev/vcs1"
	lost := 0
	for deadline := start.Add(5 * time.Minute); time.Now().Before(deadline); {
		_, rc, err := g.vm.Console.Run(poll, 30*time.Second)
		if err == nil && rc == 0 {
			took := time.Since(start).Round(time.Millisecond)
			if lost > 0 {
				g.t.Logf("guest: %s: %q on tty1 after %v (found late: the host shell was lost %d times meanwhile)", what, login, took, lost)
			} else {
				g.t.Logf("guest: %s: %q on tty1 after %v", what, login, took)
			}
			return
		}
		if err != nil {
			lost++
			g.t.Logf("guest: %s: the host shell on ttyS0 stopped answering (%v); waiting for initns to start a new one", what, err)
			if _, err := g.vm.Console.WaitShell(60 * time.Second); err != nil {
				g.t.Fatalf("no host shell on ttyS0 again: %v", err)
			}
		}
	}
	g.t.Fatalf("no %q on tty1 within 5 minutes (%s); the screen:\n%s\ndaemon log:\n%s", login, what, g.vtScreen(1), g.sh("tail -n 30 "+daemonLog))
}

// vtScreen returns the text on VT n, without trailing blanks and blank lines.
func (g *guest) vtScreen(n int) string {
	g.t.Helper()
	out, _ := g.shRC(fmt.Sprintf("cols=$(od -An -tu1 -j1 -N1 /dev/vcsa%d); fold -w $cols /dev/vcs%d | sed 's/ *$//' | grep -v '^$'", n, n))
	return out
}

// clearVT blanks VT n's screen, so that a prompt found on it later is a
// new one.
func (g *guest) clearVT(n int) {
	g.t.Helper()
	g.sh(fmt.Sprintf("head -c $(($(od -An -tu1 -N1 /dev/vcsa%d) * $(od -An -tu1 -j1 -N1 /dev/vcsa%d))) /dev/zero | tr '\\0' ' ' >/dev/vcs%d", n, n, n))
}

// distroConsole makes the guest's /dev/console the VT in front (the last
// console= names it) while the kernel also writes to the serial line.
const distroConsole = "console=tty0"

// distroStopTimeout is the stop timeout the tests give: the scripts that
// sysvinit, OpenRC and runit run to go down take 0.2-1.7 s on this
// machine's own CPU, and 5 to 40 times as long under QEMU's software
// emulation with two guests on two cores (OpenRC: 42 s), past the
// daemon's 10 s default.
const distroStopTimeout = 120 * time.Second

// distroStop stops the instance and checks the stop was graceful: the
// init's own messages on the console (tty1, recorded while it goes down),
// within half the timeout, and ls says how it ended.
func (g *guest) distroStop(messages []string) {
	g.t.Helper()
	g.recordVT(1)
	start := time.Now()
	out, rc := g.shRC(fmt.Sprintf("initns stop --timeout %v %s", distroStopTimeout, DistroInstance))
	took := time.Since(start)
	g.t.Logf("guest: initns stop took %v (status %d, timeout %v)", took.Round(time.Millisecond), rc, distroStopTimeout)
	if rc != 0 {
		g.t.Errorf("initns stop: status %d: %s", rc, out)
	}
	g.stopRecording()
	for _, m := range messages {
		if _, rc := g.shRC("grep -qF -e '" + m + "' /tmp/vt.txt"); rc != 0 {
			g.t.Errorf("the init's shutdown message %q never showed on the console (tty1); its last screen:\n%s", m, g.vtScreen(1))
		}
	}
	if took >= distroStopTimeout/2 {
		g.t.Errorf("stop took %v, want under %v (half the timeout): the init did not understand the request", took.Round(time.Millisecond), distroStopTimeout/2)
	}
	st := g.distroState()
	if st.State != "stopped" || st.Ended == "" || strings.HasPrefix(st.Ended, "killed") {
		g.t.Errorf("after stop: state %q ended %q; want stopped, ended by the init itself", st.State, st.Ended)
	}
	g.t.Logf("guest: after stop, ls: %s (%s)", st.State, st.Ended)
	if log, _ := g.shRC("grep -E 'asked to power off|timed out|killing' " + daemonLog + " | tail -n 3"); log != "" {
		g.t.Logf("daemon log: %s", strings.TrimSpace(log))
	}
}

// recordVT copies VT n's screen to /tmp/vt.rec in the guest ten times a
// second until stopRecording, so messages that scroll past are kept.
func (g *guest) recordVT(n int) {
	g.t.Helper()
	g.sh(fmt.Sprintf("(while :; do cat /dev/vcs%d; echo; sleep 0.1; done) >/tmp/vt.rec 2>/dev/null & echo $! >/tmp/vt.pid", n))
}

// stopRecording ends recordVT and leaves what it saw in /tmp/vt.txt, one
// screen a line, runs of blanks squeezed.
func (g *guest) stopRecording() {
	g.t.Helper()
	g.sh("kill $(cat /tmp/vt.pid); sleep 0.2; cat /dev/vcs1 >>/tmp/vt.rec; tr -s ' ' </tmp/vt.rec >/tmp/vt.txt")
}

// waitStopped polls ls until the instance is stopped.
func (g *guest) waitStopped(timeout time.Duration) distroInstance {
	g.t.Helper()
	var st distroInstance
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if st = g.distroState(); st.State == "stopped" {
			return st
		}
	}
	g.t.Fatalf("the instance is %s %v after poweroff inside, want stopped", st.State, timeout)
	return st
}

// TestDistroCache checks the tree cache: one INIT-KEY.tar per init, KEY
// from mkdistro.sh and the init, a stale key removed, and each tree with
// an init and its hostname. `make distros` runs it after emptying the
// cache, to rebuild every tree.
func TestDistroCache(t *testing.T) {
	t.Parallel()
	for _, init := range DistroInits {
		t.Run(init, func(t *testing.T) {
			t.Parallel()
			stale := filepath.Join(DistroCacheDir(), init+"-000000000000.tar")
			if err := os.MkdirAll(DistroCacheDir(), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(stale, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			p, err := DistroTar(init)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %v (built, or found in the cache)", p, time.Since(start).Round(time.Millisecond))
			if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the stale %s is still there: %v", stale, err)
			}
			if !regexp.MustCompile(`^` + init + `-[0-9a-f]{12}\.tar$`).MatchString(filepath.Base(p)) {
				t.Errorf("cached as %s, want %s-KEY.tar", p, init)
			}
			checkDistroTar(t, p, init)
		})
	}
}

// checkDistroTar checks the tree has an /sbin/init (in /usr/sbin when /sbin
// is merged into it) and names its host.
func checkDistroTar(t *testing.T, path, init string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var hasInit bool
	var hostname string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch h.Name {
		case "./sbin/init", "./usr/sbin/init":
			hasInit = true
		case "./etc/hostname":
			b, _ := io.ReadAll(tr)
			hostname = strings.TrimSpace(string(b))
		}
	}
	if !hasInit || hostname != "deb-"+init {
		t.Errorf("%s: /sbin/init there: %v, /etc/hostname %q; want an init and deb-%s", path, hasInit, hostname, init)
	}
}

// TestDistroDiskMetadata checks what DistroDisk relies on: mkfs.ext4 -d
// keeps owners, modes (setuid, a private directory), hard links, device
// nodes, FIFOs, symlinks, times and xattrs (security.capability, ACLs,
// user.*), and Ext4Image gives the root the tree's mode.
func TestDistroDiskMetadata(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.Mkdir(tree, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tree, 0o711); err != nil {
		t.Fatal(err)
	}
	steps := []string{
		"echo data >f && chown 1234:567 f && chmod 4750 f && ln f hardlink && touch -d 2001-02-03T04:05:06 f",
		"cp /bin/true capped && setcap cap_net_raw+ep capped",
		"mknod null c 1 3 && mknod -m 0660 disk b 7 0 && mkfifo fifo && ln -s f symlink",
		"mkdir -m 0700 private && setfacl -m u:99:rx private && setfattr -n user.test -v hello f",
		"mkdir -p deep/er && chown 5:6 deep/er && chmod 1777 deep",
	}
	for _, s := range steps {
		cmd := exec.Command("sh", "-ec", s)
		cmd.Dir = tree
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s (apt-get install libcap2-bin acl attr): %v\n%s", s, err, out)
		}
	}
	img := filepath.Join(dir, "disk.img")
	if err := Ext4Image(tree, img, 64<<20); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-o", "loop,ro", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount -o loop %s: %v\n%s", img, err, out)
	}
	defer exec.Command("umount", mnt).Run()
	want, err := treeFacts(tree)
	if err != nil {
		t.Fatal(err)
	}
	got, err := treeFacts(mnt)
	if err != nil {
		t.Fatal(err)
	}
	delete(got, "lost+found")
	for name, w := range want {
		if g := got[name]; g != w {
			t.Errorf("%s in the ext4 image:\n got %s\nwant %s", name, g, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s in the ext4 image is not in the tree", name)
		}
	}
}

// treeFacts describes every entry under root (root itself as ".") by
// type, mode, owner, link count, device, size, mtime, symlink target, a
// hard-link group and xattrs.
func treeFacts(root string) (map[string]string, error) {
	facts := map[string]string{}
	inodes := map[uint64]string{}
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		// Directory sizes, times and link counts depend on the file
		// system (lost+found is one more subdirectory of the root).
		size, mtime, nlink := st.Size, st.Mtim.Sec, st.Nlink
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			size, mtime, nlink = 0, 0, 0
		}
		link, _ := os.Readlink(p)
		group := ""
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if first, ok := inodes[st.Ino]; ok {
				group = first
			} else {
				inodes[st.Ino], group = rel, rel
			}
		}
		x, err := xattrs(p)
		if err != nil {
			return err
		}
		facts[rel] = fmt.Sprintf("mode %o uid %d gid %d nlink %d rdev %d size %d mtime %d link %q group %q xattrs %s",
			st.Mode, st.Uid, st.Gid, nlink, st.Rdev, size, mtime, link, group, x)
		return nil
	})
	return facts, err
}

// xattrs lists p's extended attributes, sorted, with their values.
func xattrs(p string) (string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return "", fmt.Errorf("llistxattr %s: %w", p, err)
	}
	var out []string
	for _, name := range bytes.Split(buf[:n], []byte{0}) {
		if len(name) == 0 {
			continue
		}
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, string(name), v)
		if err != nil {
			return "", fmt.Errorf("lgetxattr %s %s: %w", p, name, err)
		}
		out = append(out, fmt.Sprintf("%s=%x", name, v[:m]))
	}
	sort.Strings(out)
	return strings.Join(out, ","), nil
}
