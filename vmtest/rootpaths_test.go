package vmtest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"

	"initns/internal/initreport"
)

// TestPivotRoot boots initns as PID 1 on a tmpfs root (rdinit= copies the
// initramfs into a tmpfs, makes it read-only, as a kernel mounts a disk
// root, and switch_roots with stdin, stdout and stderr closed), which
// initns must remount read-write, with a console it must open itself, and
// where pivot_root works, so an
// instance boots through pivot_root rather than the move-and-chroot path
// TestInstances takes on the initramfs's rootfs. Then SIGTERM to PID 1
// must reboot the machine gracefully, and SIGUSR2 after the new boot power
// it off.
func TestPivotRoot(t *testing.T) {
	t.Parallel()
	g := bootGuest(t, "rdinit=/sbin/tmpfs-root", true)
	ms, err := mountinfo.GetMountsFromReader(strings.NewReader(g.sh("cat /proc/1/mountinfo")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := topMount(ms, "/"); m.FSType != "tmpfs" || readOnly(m) {
		t.Fatalf("PID 1's root is %q with %q, want tmpfs made read-write (the script left it read-only)", m.FSType, m.Options)
	}
	// The script started PID 1 with descriptors 0, 1 and 2 closed.
	if out := g.sh("for fd in 0 1 2; do readlink /proc/1/fd/$fd; done"); out != "/dev/console\n/dev/console\n/dev/console\n" {
		t.Errorf("PID 1's stdin, stdout, stderr: %q, want /dev/console, opened by itself", out)
	}
	t.Run("init-environment", func(t *testing.T) { g.with(t).checkInitEnvironment("pvti") })
	off := g.vm.Console.Offset()
	g.sh("initns new pv busybox.tar.gz && initns run pv")
	g.expect(off, "testinit: up 1", "the instance did not boot on a pivot_root", 60*time.Second)
	g.checkInstanceRoot("pv")
	off = g.vm.Console.Offset()
	g.vm.Console.Write([]byte("kill -TERM 1\n"))
	g.expect(off, "testinit: halt RTMIN+4", "SIGTERM to PID 1 did not stop the instance gracefully", 30*time.Second)
	g.expect(off, "reboot: Restarting system", "SIGTERM to PID 1 did not reboot the machine", 60*time.Second)
	g.expect(off, "SeaBIOS", "the machine did not boot again (no firmware banner)", 60*time.Second)
	g.waitUp()
	g.powerOffBySignal("USR2")
}

// checkInstanceRoot checks what the running instance's init sees mounted:
// its root filesystem as / and a devtmpfs on /dev, and nothing else (SPEC
// §6: /dev as Debian's initramfs hands it to every init, nothing more, and
// nothing of the host shows through).
func (g *guest) checkInstanceRoot(name string) {
	g.t.Helper()
	pid := "$(head -n 1 /sys/fs/cgroup/initns/" + name + "/cgroup.procs)"
	// An empty signal mask and no ignored signals (SPEC §6): PID 1's own
	// signal guard must not leak into what it starts. The one exception,
	// SIGQUIT (mask 0x4), busybox ash ignores by itself, as bash does.
	if out := g.sh("grep -E '^Sig(Blk|Ign):' /proc/" + pid + "/status"); out != "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000004\n" {
		g.t.Errorf("the instance's init has signals blocked or ignored:\n%s", out)
	}
	out := g.sh("cat /proc/" + pid + "/mountinfo")
	ms, err := mountinfo.GetMountsFromReader(strings.NewReader(out), nil)
	if err != nil {
		g.t.Fatalf("instance mountinfo: %v\n%s", err, out)
	}
	// The busybox image has no modules or firmware: it is lent the
	// initramfs's, read-only (README, "Hardware").
	mods := "/lib/modules/" + KernelRelease()
	if len(ms) != 4 || ms[0].Mountpoint != "/" || ms[0].Root != "/var/lib/initns/rootfs/"+name ||
		ms[1].Mountpoint != mods || ms[1].Root != mods || !readOnly(ms[1]) ||
		ms[2].Mountpoint != "/lib/firmware" || ms[2].Root != "/lib/firmware" || !readOnly(ms[2]) ||
		ms[3].Mountpoint != "/dev" || ms[3].FSType != "devtmpfs" {
		g.t.Errorf("the instance's init sees these mounts, want only /var/lib/initns/rootfs/%s as /, the host's %s and /lib/firmware read-only, and a devtmpfs on /dev:\n%s", name, mods, out)
	}
}

// topMount returns the topmost mount at point in a guest's mountinfo (the
// last listed), or an empty one when nothing is mounted there.
func topMount(ms []*mountinfo.Info, point string) *mountinfo.Info {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Mountpoint == point {
			return ms[i]
		}
	}
	return &mountinfo.Info{}
}

// readOnly reports whether a mount's per-mount options say "ro".
func readOnly(m *mountinfo.Info) bool {
	return slices.Contains(strings.Split(m.Options, ","), "ro")
}

// initReport is what testdata/testinit writes to /report.json.
type initReport = initreport.Report

// checkInitEnvironment boots an instance of the testinit image and checks
// what its init got (SPEC §6): PID 1 of its namespace, stdin, stdout and
// stderr on /dev/console and no other descriptor, an empty signal mask,
// no ignored signal, a kernel-like environment, its own root; then a
// poweroff inside the instance leaves it stopped.
func (g *guest) checkInitEnvironment(name string) {
	g.t.Helper()
	g.sh("initns new " + name + " testinit.tar.gz && initns run " + name)
	report := "/var/lib/initns/rootfs/" + name + "/report.json"
	out := g.sh("i=0; while [ ! -e " + report + " ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; cat " + report)
	var r initReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		g.t.Fatalf("testinit's report: %v: %q", err, out)
	}
	if r.Pid != 1 {
		g.t.Errorf("init's pid %d, want 1", r.Pid)
	}
	if r.SigBlk != "0000000000000000" || r.SigIgn != "0000000000000000" {
		g.t.Errorf("init's SigBlk %s SigIgn %s, want all zero", r.SigBlk, r.SigIgn)
	}
	var fds []string
	for _, fd := range r.FDs {
		// The Go runtime's epoll and eventfd, and the directory testinit
		// lists its descriptors with, are testinit's own.
		if _, target, _ := strings.Cut(fd, " "); target != "" && !strings.HasPrefix(target, "anon_inode:") {
			fds = append(fds, fd)
		}
	}
	if !slices.Equal(fds, []string{"0 /dev/console", "1 /dev/console", "2 /dev/console"}) {
		g.t.Errorf("init's descriptors %q, want 0, 1 and 2 on /dev/console and none of the daemon's", r.FDs)
	}
	if !slices.Contains(r.Env, "HOME=/") || !slices.Contains(r.Env, "TERM=linux") {
		g.t.Errorf("init's environment %q, want the kernel's HOME=/ and TERM=linux", r.Env)
	}
	if !slices.Contains(r.Root, "sbin") || !slices.Contains(r.Root, "boots") || slices.Contains(r.Root, "var") {
		g.t.Errorf("init's / holds %q, want the image's root filesystem", r.Root)
	}
	g.sh("echo poweroff > /var/lib/initns/rootfs/" + name + "/ctl")
	state := ""
	for i := 0; i < 50 && !strings.HasPrefix(state, "stopped"); i++ {
		time.Sleep(200 * time.Millisecond)
		state = g.instanceState(name)
	}
	if state != "stopped" {
		g.t.Errorf("after a poweroff inside the instance its state is %q, want stopped", state)
	}
}
