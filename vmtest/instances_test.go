package vmtest

import (
	"strings"
	"testing"
	"time"
)

// TestInstances drives instances from the guest's console with the initns
// client, initns being PID 1 on an initramfs (so instances boot by the
// move-and-chroot path): new, run, a reboot inside the instance, stop, rm,
// and finally `initns poweroff`, which must stop the instance gracefully
// and make the VM exit by itself.
func TestInstances(t *testing.T) {
	t.Parallel()
	g := bootGuest(t, "", false)

	t.Run("new", func(t *testing.T) {
		g := g.with(t)
		g.sh("initns new box busybox.tar.gz")
		if out := g.compat("ls instance"); out != "box\n\n" {
			t.Errorf("ls instance: %q, want \"box\\n\\n\"", out)
		}
		g.sh("test -x /var/lib/initns/rootfs/box/sbin/init")
		if st := g.instanceState("box"); st != "stopped" {
			t.Errorf("state %q, want stopped", st)
		}
		if out, rc := g.shRC("initns new box busybox.tar.gz"); rc != 1 {
			t.Errorf("new of an existing name: status %d, want 1: %s", rc, out)
		}
	})
	t.Run("run", func(t *testing.T) {
		g := g.with(t)
		off := g.vm.Console.Offset()
		g.sh("initns run box")
		g.expect(off, "testinit: up 1", "the instance's init did not start", 60*time.Second)
		if st := g.instanceState("box"); st != "running" {
			t.Errorf("state %q, want running", st)
		}
		g.checkInstanceRoot("box")
		if out := g.sh("cat /sys/fs/cgroup/initns/box/cgroup.procs | wc -l"); strings.TrimSpace(out) == "0" {
			t.Error("the instance's cgroup is empty")
		}
	})
	t.Run("reboot-inside", func(t *testing.T) {
		g := g.with(t)
		off := g.vm.Console.Offset()
		// reboot(2) inside the instance's PID namespace: the kernel kills
		// its init, and its parent sees SIGHUP (SPEC §6): boot it again.
		g.sh("nsenter -t $(head -n 1 /sys/fs/cgroup/initns/box/cgroup.procs) -m -p reboot -f")
		g.expect(off, "testinit: up 2", "the instance did not boot again after its reboot", 60*time.Second)
		if st := g.instanceState("box"); st != "running" {
			t.Errorf("state %q after the reboot, want running", st)
		}
	})
	t.Run("stop", func(t *testing.T) {
		g := g.with(t)
		off := g.vm.Console.Offset()
		g.sh("initns stop box")
		g.expect(off, "testinit: halt RTMIN+4", "the instance's init did not get its halt signal", 10*time.Second)
		if st := g.instanceState("box"); st != "stopped" {
			t.Errorf("state %q, want stopped", st)
		}
		if _, rc := g.shRC("test -e /sys/fs/cgroup/initns/box"); rc == 0 {
			t.Error("the stopped instance's cgroup is still there")
		}
	})
	t.Run("rm", func(t *testing.T) {
		g := g.with(t)
		g.sh("initns rm box")
		if out := g.compat("ls instance"); out != "\n" {
			t.Errorf("ls instance after rm: %q, want \"\\n\"", out)
		}
		if _, rc := g.shRC("test -e /var/lib/initns/rootfs/box"); rc == 0 {
			t.Error("the root filesystem of the removed instance is still there")
		}
	})
	t.Run("init-environment", func(t *testing.T) { g.with(t).checkInitEnvironment("ti") })
	t.Run("poweroff", func(t *testing.T) {
		g := g.with(t)
		off := g.vm.Console.Offset()
		g.sh("initns new last busybox.tar.gz && initns run last")
		g.expect(off, "testinit: up 1", "the instance did not boot", 60*time.Second)
		off = g.vm.Console.Offset()
		// The shell is killed by the poweroff: no end marker to wait for.
		g.vm.Console.Write([]byte("initns poweroff\n"))
		g.expect(off, "testinit: halt RTMIN+4", "poweroff did not stop the instance gracefully", 30*time.Second)
		g.expect(off, "reboot: Power down", "the machine did not power off", 60*time.Second)
		if err := g.vm.Wait(30 * time.Second); err != nil {
			t.Fatalf("QEMU did not exit by itself after the poweroff: %v", err)
		}
	})
}
