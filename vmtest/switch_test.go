package vmtest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSwitch proves `switch` (issue 15) on a guest with two real Debian
// systemd instances, a and b, initns as PID 1: a shell started on a's
// console (its own VT, tty8: b's gettys on tty1-tty6, getty-static's
// without D-Bus, hang those VTs up as they start, which would end a
// session of a's there) survives a round trip
// to b, the same process answering keys typed afterwards; the cycling
// chord (Ctrl+Alt+PgDn through QEMU's sendkey) brings a back, on tty8;
// tty8's keyboard and display mode, changed by b meanwhile, are a's
// again, and so is what it showed; Ctrl+Alt+J with b in front freezes b
// and `exit` gives it back; with memory made scarce (a tmpfs filled), the
// least recently used resident instance is stopped and the one in front
// is not. It logs the switch latencies beside b's boot to its login
// prompt.
func TestSwitch(t *testing.T) {
	t.Parallel()
	ramfs := distroInitramfs(t)
	disk, err := DistroDiskOf(context.Background(), t.TempDir(), "systemd", "a", "b")
	if err != nil {
		t.Fatalf("the disk: %v", err)
	}
	// initns.memory-free=20: memory is short below 20% available, which
	// the test can reach without the guest's OOM killer.
	vm := Boot(t, Options{Initramfs: ramfs, Cmdline: "rdinit=" + DistroRdinit + " initns.memory-free=20 " + distroConsole,
		MemoryMB: 1024, Drives: []string{disk}, Tee: teeFor(t)})
	g := &guest{t: t, vm: vm}
	g.waitUp()
	g.sh("echo a >/var/lib/initns/rootfs/a/etc/hostname; echo b >/var/lib/initns/rootfs/b/etc/hostname")
	if !g.waitLog(0, `msg="keyboard added"`, 60*time.Second) {
		t.Fatalf("the daemon never watched a keyboard; its log:\n%s", g.logSince(0))
	}

	g.switchToLogin("a", "a login:")
	// The daemon's chords reach no program: the kernel's keymap says
	// nothing for Ctrl+Alt+J, PgDn and PgUp (KDGKBENT, table
	// KG_CTRL|KG_ALT), where it says Escape and Linefeed, Next and Prior
	// by default.
	if got := g.sh(`initns exec a -- perl -e 'open(T, "+<", "/dev/tty0") or die $!; for $k (36, 109, 104) { $e = pack("CCS", 12, $k, 0); ioctl(T, 0x4B46, $e) or die "KDGKBENT $!"; printf "%#x ", (unpack("CCS", $e))[2] }'`); strings.TrimSpace(got) != "0x200 0x200 0x200" {
		t.Errorf("Ctrl+Alt+J, PgDn, PgUp in the guest's keymap: %s, want 0x200 (nothing) each", got)
	}
	shPid := g.shellOnConsole("a", 8)
	g.typeKeys("echo one >/root/typed\n")
	if !g.waitGuest("grep -q one /var/lib/initns/rootfs/a/root/typed", 30*time.Second) {
		t.Fatalf("the command typed on a's console did not run; tty8 shows:\n%s", g.vtScreen(8))
	}
	kbA, dispA := g.ttyModes("a", 8)

	boot := g.switchToLogin("b", "b login:")
	if st := g.instanceState("a"); st != "resident" || g.cgroupFrozen("a") != "1" {
		t.Fatalf("after switch b: a is %s, cgroup frozen %s; want resident, frozen", st, g.cgroupFrozen("a"))
	}
	if vt := g.activeVT(); vt != "tty1" {
		t.Fatalf("after switch b, %s is in front, want tty1 (the home VT, for a boot)", vt)
	}
	// b takes tty8 meanwhile: raw keyboard, graphics, as a display server
	// would, and writes over it.
	g.sh(`initns exec b -- perl -e 'open(T, "+<", "/dev/tty8") or die $!; print T "\033cb was here"; ioctl(T, 0x4B45, 0) or die "KDSKBMODE $!"; ioctl(T, 0x4B3A, 1) or die "KDSETMODE $!"'`)
	if kb, disp := g.ttyModes("b", 8); kb != "0" || disp != "1" {
		t.Fatalf("b could not change tty8's modes: keyboard %s display %s", kb, disp)
	}

	t.Run("chord-brings-a-back", func(t *testing.T) {
		g := g.with(t)
		n := g.logLines()
		g.sendkey("ctrl-alt-pgdn")
		if !g.waitLog(n, `msg="cycling chord" to=a`, 30*time.Second) || !g.waitGuest("initns ls | grep -qE '^a +running'", 30*time.Second) {
			t.Fatalf("Ctrl+Alt+PgDn did not bring a back; daemon log:\n%s", g.logSince(n))
		}
		if g.cgroupFrozen("a") != "0" || g.instanceState("b") != "resident" {
			t.Fatalf("after the chord: a frozen %s, b %s", g.cgroupFrozen("a"), g.instanceState("b"))
		}
		if vt := g.activeVT(); vt != "tty8" {
			t.Errorf("with a back, %s is in front, want a's tty8", vt)
		}
		if kb, disp := g.ttyModes("a", 8); kb != kbA || disp != dispA {
			t.Errorf("tty8 with a back: keyboard %s display %s, want a's %s %s", kb, disp, kbA, dispA)
		}
		if screen := g.vtScreen(8); !strings.Contains(screen, "/root/typed") || strings.Contains(screen, "b was here") {
			t.Errorf("tty8 does not show a's screen again:\n%s", screen)
		}
		g.typeKeys("echo $$ >/root/typed2\n")
		if !g.waitGuest("[ -s /var/lib/initns/rootfs/a/root/typed2 ]", 30*time.Second) {
			t.Fatalf("keys typed after the round trip reached no shell; tty8 shows:\n%s", g.vtScreen(8))
		}
		if got := strings.TrimSpace(g.sh("cat /var/lib/initns/rootfs/a/root/typed2")); got != shPid {
			t.Errorf("after the round trip the shell on a's console is pid %s, want the same %s", got, shPid)
		}
	})
	t.Run("latency", func(t *testing.T) {
		g := g.with(t)
		n := g.logLines()
		for i := 0; i < 5; i++ {
			g.sh("initns switch b && initns switch a")
		}
		ds := logDurations(g.logSince(n), switchServed)
		if len(ds) != 10 {
			t.Fatalf("%d switches logged, want 10", len(ds))
		}
		p50, p90 := ds[len(ds)/2], ds[len(ds)*9/10]
		t.Logf("guest: switch to a resident systemd instance, request to answer (thawed): p50 %v, p90 %v; b's boot to its login prompt %v: %.0fx", p50, p90, boot.Round(time.Millisecond), float64(boot)/float64(p50))
	})
	t.Run("chord-j-freezes-b", func(t *testing.T) {
		g := g.with(t)
		g.sh("initns switch b")
		g.sendkey("ctrl-alt-j")
		if !g.waitGuest("initns ls | grep -qE '^b +frozen' && grep -q tty63 /sys/class/tty/tty0/active", 30*time.Second) {
			t.Fatalf("Ctrl+Alt+J with b in front: b %s, VT %s", g.instanceState("b"), g.activeVT())
		}
		if g.instanceState("a") != "resident" {
			t.Errorf("Ctrl+Alt+J changed a: %s", g.instanceState("a"))
		}
		g.shellOnVT63()
		g.typeKeys("exit\n")
		if !g.waitGuest("initns ls | grep -qE '^b +running' && grep -q tty1 /sys/class/tty/tty0/active", 30*time.Second) {
			t.Fatalf("exit in the host shell: b %s, VT %s", g.instanceState("b"), g.activeVT())
		}
	})
	t.Run("memory-policy", func(t *testing.T) {
		g := g.with(t)
		n := g.logLines()
		// Fill a tmpfs until 15% of memory is available: under the 20%
		// of initns.memory-free=.
		g.sh(`mkdir -p /tmp/hog && mount -t tmpfs -o size=90% hog /tmp/hog && ` +
			`avail=$(awk '/MemAvailable/ {print $2}' /proc/meminfo) total=$(awk '/MemTotal/ {print $2}' /proc/meminfo) && ` +
			`dd if=/dev/zero of=/tmp/hog/f bs=1M count=$(( (avail - total * 15 / 100) / 1024 )) 2>/dev/null`)
		if !g.waitLog(n, `least recently used resident instance" instance=a`, 60*time.Second) ||
			!g.waitGuest("initns ls | grep -qE '^a +stopped'", 120*time.Second) {
			t.Errorf("memory made scarce: a is %s; daemon log:\n%s", g.instanceState("a"), g.logSince(n))
		}
		if st := g.instanceState("b"); st != "running" {
			t.Errorf("the memory policy touched the instance in front: b %s", st)
		}
		g.sh("umount /tmp/hog")
		t.Logf("daemon log: %s", g.sh(fmt.Sprintf("tail -n +%d %s | grep -E 'least recently|state=stopped' || true", n+1, daemonLog)))
	})
	if out := g.sh("grep -E 'level=ERROR' " + daemonLog + " || true"); out != "" {
		t.Errorf("the daemon logged errors:\n%s", out)
	}
}

// switchToLogin switches to name, a stopped instance, and waits for its
// login prompt on tty1; it returns how long that took.
func (g *guest) switchToLogin(name, login string) time.Duration {
	g.t.Helper()
	g.clearVT(1)
	off := g.vm.Console.Offset()
	start := time.Now()
	g.sh("initns switch " + name)
	g.waitLogin(off, start, login, "initns switch "+name+" to login")
	return time.Since(start)
}

// shellOnConsole brings VT n to front and puts a shell there in instance
// name, as a person logged in there (logind's getty on it masked first:
// it would hang the VT up), and returns the shell's pid inside name.
func (g *guest) shellOnConsole(name string, n int) string {
	g.t.Helper()
	g.sh(fmt.Sprintf("initns exec %s -- systemctl mask --runtime --now autovt@tty%d.service getty@tty%d.service", name, n, n))
	g.sh(fmt.Sprintf("chvt %d", n))
	// A service of the instance's own systemd, as a login's session is:
	// nothing of exec's outlives exec. systemd reads $$$$ as $$.
	g.sh(fmt.Sprintf(`initns exec %s -- systemd-run --unit=vt-shell sh -c 'echo $$$$ >/root/sh.pid; exec sh -i <>/dev/tty%d >&0 2>&0'`, name, n))
	if !g.waitGuest("[ -s /var/lib/initns/rootfs/"+name+"/root/sh.pid ]", 30*time.Second) {
		g.t.Fatalf("the shell on tty%d did not start", n)
	}
	pid := strings.TrimSpace(g.sh("cat /var/lib/initns/rootfs/" + name + "/root/sh.pid"))
	if _, err := strconv.Atoi(pid); err != nil {
		g.t.Fatalf("shell pid %q", pid)
	}
	return pid
}

// ttyModes returns VT n's keyboard mode (KDGKBMODE) and display mode
// (KDGETMODE), read by perl inside the instance in front.
func (g *guest) ttyModes(front string, n int) (keyboard, display string) {
	g.t.Helper()
	out := g.sh(fmt.Sprintf("initns exec %s -- perl -e 'open(T, \"+<\", \"/dev/tty%d\") or die $!; $k = pack(\"i\", 0); $d = pack(\"i\", 0); ioctl(T, 0x4B44, $k) or die \"KDGKBMODE $!\"; ioctl(T, 0x4B3B, $d) or die \"KDGETMODE $!\"; print unpack(\"i\", $k), \" \", unpack(\"i\", $d), \"\\n\"'", front, n))
	f := strings.Fields(out)
	if len(f) != 2 {
		g.t.Fatalf("tty%d modes: %q", n, out)
	}
	return f[0], f[1]
}
