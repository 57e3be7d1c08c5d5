package vmtest

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
)

// lsImage is the compatibility-mode answer to "ls image" in the guest.
const lsImage = "busybox.tar.gz\ntestinit.tar.gz\n\n"

// TestPID1 boots initns as PID 1 and checks, on one boot, the duties of
// SPEC §8: the mounts, the socket, the modules it loaded by itself (the
// keyboard is an evdev device), reaping a storm of orphans, surviving a
// panicking handler, stray signals, a graceful reboot on Ctrl+Alt+Del (the
// guest boots again), and a poweroff on SIGPWR.
func TestPID1(t *testing.T) {
	t.Parallel()
	// Words the daemon does not know ("splash", "3") reach PID 1 as
	// arguments and must be ignored; nosuchmod must be logged, not fatal.
	g := bootGuest(t, "splash 3 initns.modules=dummy,nosuchmod dummy.numdummies=2", true)

	t.Run("pid1", func(t *testing.T) {
		if out := g.with(t).sh("readlink /proc/1/exe"); strings.TrimSpace(out) != "/bin/initns.bin" {
			t.Errorf("PID 1 is %q, want /bin/initns.bin", out)
		}
		// The kernel handed the words it does not know to PID 1, which
		// runs on regardless.
		if out := g.with(t).sh("tr '\\0' ' ' < /proc/1/cmdline"); strings.TrimSpace(out) != "/init splash 3" {
			t.Errorf("PID 1's arguments %q, want \"/init splash 3\"", out)
		}
	})
	t.Run("mounts", func(t *testing.T) { checkMounts(g.with(t)) })
	t.Run("socket", func(t *testing.T) { checkSocket(g.with(t)) })
	t.Run("modules", func(t *testing.T) { checkModules(g.with(t)) })
	t.Run("orphans", func(t *testing.T) { checkOrphans(g.with(t)) })
	t.Run("panic", func(t *testing.T) { checkPanic(g.with(t)) })
	t.Run("stray-signals", func(t *testing.T) { checkStraySignals(g.with(t)) })
	t.Run("ctrl-alt-del", func(t *testing.T) { checkCtrlAltDel(g.with(t)) })
	t.Run("sigpwr", func(t *testing.T) { g.with(t).powerOffBySignal("PWR") })
}

func checkMounts(g *guest) {
	ms, err := mountinfo.GetMountsFromReader(strings.NewReader(g.sh("cat /proc/1/mountinfo")), nil)
	if err != nil {
		g.t.Fatal(err)
	}
	for point, fstype := range map[string]string{
		"/proc": "proc", "/sys": "sysfs", "/dev": "devtmpfs", "/dev/pts": "devpts",
		"/run": "tmpfs", "/sys/fs/cgroup": "cgroup2",
	} {
		if m := topMount(ms, point); m.FSType != fstype {
			g.t.Errorf("%s: mounted as %q, want %s", point, m.FSType, fstype)
		}
	}
	if m := topMount(ms, "/"); m.Mountpoint != "/" || readOnly(m) {
		g.t.Errorf("/ is not mounted read-write: %+v", m)
	}
}

func checkSocket(g *guest) {
	if out := g.sh("stat -c '%F %a %u' /run/initns.sock"); strings.TrimSpace(out) != "socket 600 0" {
		g.t.Errorf("socket: %q, want \"socket 600 0\"", out)
	}
	// Compatibility mode, byte for byte (SPEC §9): several requests on one
	// connection, each answer ending with an empty line.
	want := lsImage + "\n" + "syntax\n\n"
	if out := g.compat("ls image", "ls instance", "nosuchverb"); out != want {
		g.t.Errorf("compat answers %q, want %q", out, want)
	}
}

func checkModules(g *guest) {
	// The daemon loads modules beside its own start; its log says when the
	// last one is in.
	g.sh("i=0; until grep -q 'msg=\"kernel modules\" loaded=' /var/lib/initns/log || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; " +
		"grep 'msg=\"kernel modules\" loaded=' /var/lib/initns/log")
	mods := g.sh("cat /proc/modules")
	// evdev exists only as .ko.xz and e1000 only as .ko.zst in the guest;
	// i2c_piix4 and psmouse are loaded only because hardware matches them;
	// dummy only because initns.modules names it.
	for _, m := range []string{"evdev", "e1000", "i2c_piix4", "psmouse", "dummy"} {
		if !regexp.MustCompile(`(?m)^` + m + ` `).MatchString(mods) {
			g.t.Errorf("module %s not loaded; /proc/modules:\n%s", m, mods)
		}
	}
	// modprobe.d (testdata/vm/modprobe-test.conf): pcspkr, which QEMU's PC
	// speaker matches, is blacklisted; psmouse loads with its option.
	if regexp.MustCompile(`(?m)^pcspkr `).MatchString(mods) {
		g.t.Error("pcspkr loaded although modprobe.d blacklists it")
	}
	// proto=bare reads back as the protocol's name, "PS/2"; the default
	// reads "auto".
	if out := g.sh("cat /sys/module/psmouse/parameters/proto"); strings.TrimSpace(out) != "PS/2" {
		g.t.Errorf("psmouse proto %q, want PS/2 (options psmouse proto=bare in modprobe.d)", out)
	}
	// dummy.numdummies=2 on the kernel command line reached the module (its
	// default is one device).
	if out := g.sh("ls /sys/class/net"); !strings.Contains(out, "dummy1") || strings.Contains(out, "dummy2") {
		g.t.Errorf("network devices %q, want dummy0 and dummy1 (dummy.numdummies=2)", out)
	}
	// The PS/2 keyboard QEMU emulates, as an evdev device.
	devs := g.sh("cat /proc/bus/input/devices")
	kbd := regexp.MustCompile(`N: Name="AT Translated Set 2 keyboard"\n(?:[^\n]+\n)*?H: Handlers=[^\n]*\b(event\d+)`).FindStringSubmatch(devs)
	if kbd == nil {
		g.t.Fatalf("no keyboard with an event handler in /proc/bus/input/devices:\n%s", devs)
	}
	if out, rc := g.shRC("test -c /dev/input/" + kbd[1]); rc != 0 {
		g.t.Errorf("/dev/input/%s is not a character device: %s", kbd[1], out)
	}
	// Errors go to the kernel log too (SPEC §8).
	if out, rc := g.shRC("dmesg | grep 'initns: .*nosuchmod'"); rc != 0 {
		g.t.Errorf("the failed module nosuchmod is not in the kernel log as an initns error: %q", out)
	}
}

// checkOrphans makes 1,000 processes whose parent exits at once, so all are
// re-parented to PID 1, then ends them all at once, and checks that none is
// left a zombie. As they die, an instance is stopped: its init's exit
// status must still reach the daemon, not be taken by the reaping of
// orphans.
func checkOrphans(g *guest) {
	off := g.vm.Console.Offset()
	g.sh("initns new orph busybox.tar.gz && initns run orph")
	g.expect(off, "testinit: up 1", "the instance did not boot", 60*time.Second)
	// Each cat blocks opening the FIFO for reading until a writer opens it,
	// which wakes them all; they read end-of-file and exit together.
	g.sh("mkfifo /tmp/storm && sh -c 'i=0; while [ $i -lt 1000 ]; do cat /tmp/storm & i=$((i+1)); done'")
	// A child may still be between fork and exec (named sh) for a moment.
	orphans := strings.TrimSpace(g.sh("n() { ps -o ppid,comm | grep -c '^ *1 cat$'; }; " +
		"i=0; while [ $(n) -lt 1000 ] && [ $i -lt 60 ]; do sleep 0.5; i=$((i+1)); done; n || true"))
	if orphans != "1000" {
		g.t.Fatalf("%s cats re-parented to PID 1, want 1000", orphans)
	}
	g.sh(": > /tmp/storm; initns stop orph")
	if line := g.sh("initns ls | grep '^orph '"); !strings.Contains(line, "exited 0") {
		g.t.Errorf("the instance stopped amid the orphans does not show its init's exit status 0: %q", line)
	}
	out := g.sh("i=0; while ps -o stat,comm | grep -q '^[^Z].*cat$' && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done; " +
		"sleep 1; ps -o stat | grep -c '^Z' || true")
	if z := strings.TrimSpace(out); z != "0" {
		g.t.Errorf("%s zombies left after the storm:\n%s", z, g.sh("ps -o pid,ppid,stat,comm | grep Z || true"))
	}
}

// checkPanic asks the hidden debug-panic request (initns.debug=1 enables
// it) and checks that PID 1 still serves.
func checkPanic(g *guest) {
	before := g.sh("cut -d' ' -f22 /proc/1/stat")
	out, _ := g.shRC("sockcat /run/initns.sock debug-panic")
	// The daemon's own kernel-log lines may interleave on the console.
	if !strings.Contains(out, "error\n") {
		g.t.Errorf("answer to debug-panic: %q, want an error", out)
	}
	if out := g.compat("ls image"); out != lsImage {
		g.t.Errorf("after the panic, ls image answers %q", out)
	}
	// The recovered panic is an error in the kernel log too: one record,
	// its stack trace on the same line (the kernel lets PID 1 write only
	// ten records in five seconds).
	if out := g.sh("dmesg | grep -c 'initns: .*debug-panic.*runtime/debug' || true"); strings.TrimSpace(out) != "1" {
		g.t.Errorf("%s kernel-log records of the panic with its stack on one line, want 1", strings.TrimSpace(out))
	}
	if after := g.sh("cut -d' ' -f22 /proc/1/stat"); after != before {
		g.t.Errorf("PID 1 start time changed from %q to %q", before, after)
	}
	if strings.Contains(g.vm.Console.Log(), "Kernel panic") {
		g.t.Error("the kernel panicked")
	}
}

// checkStraySignals sends PID 1 every signal a person or a program might
// send it by mistake, which it has no use for: each must be ignored. (The
// kernel drops a signal to init only when init leaves it at SIG_DFL; the Go
// runtime installs its own handlers, whose default for most of these is to
// exit, which at PID 1 is a kernel panic: golang/go#59569.)
func checkStraySignals(g *guest) {
	before := g.sh("cut -d' ' -f22 /proc/1/stat")
	for _, sig := range []string{"HUP", "USR1", "QUIT", "ALRM", "PIPE", "WINCH", "TSTP", "TTIN", "TTOU", "CONT", "URG", "VTALRM", "PROF", "XCPU", "XFSZ"} {
		g.sh("kill -" + sig + " 1 && sleep 0.2")
		if out := g.compat("ls image"); out != lsImage {
			g.t.Fatalf("after SIG%s to PID 1, ls image answers %q", sig, out)
		}
	}
	if after := g.sh("cut -d' ' -f22 /proc/1/stat"); after != before {
		g.t.Errorf("PID 1 start time changed from %q to %q", before, after)
	}
}

// checkCtrlAltDel runs an instance, presses Ctrl+Alt+Del on the guest's
// keyboard through the QEMU monitor, and checks that the instance was
// stopped gracefully before the machine rebooted, and that it boots again.
func checkCtrlAltDel(g *guest) {
	off := g.vm.Console.Offset()
	g.sh("initns new cad busybox.tar.gz && initns run cad")
	g.expect(off, "testinit: up 1", "the instance did not boot", 60*time.Second)
	off = g.vm.Console.Offset()
	if _, err := g.vm.Monitor.Command("sendkey ctrl-alt-delete"); err != nil {
		g.t.Fatal(err)
	}
	g.expect(off, "testinit: halt RTMIN+4", "Ctrl+Alt+Del did not stop the instance gracefully", 60*time.Second)
	g.expect(off, "reboot: Restarting system", "Ctrl+Alt+Del did not reboot the machine", 60*time.Second)
	g.expect(off, "SeaBIOS", "the machine did not boot again (no firmware banner)", 60*time.Second)
	g.waitUp()
	if strings.Contains(g.vm.Console.Log(), "Kernel panic") {
		g.t.Error("the kernel panicked")
	}
}
