package vmtest

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The hardware checks of the systemd tree's guest (README, "Hardware"),
// on the guest TestDistro boots anyway: one boot serves them all.

// exec runs a shell command inside the instance and returns its output
// and status.
func (g *guest) execRC(cmd string) (string, int) {
	g.t.Helper()
	return g.shRC("initns exec " + DistroInstance + " -- sh -c '" + cmd + "'")
}

// hasModule says whether the guest's kernel has module m loaded.
func (g *guest) hasModule(m string) bool {
	g.t.Helper()
	_, rc := g.shRC("grep -q '^" + m + " ' /proc/modules")
	return rc == 0
}

// modulesColumn is the MODULES column `ls --json` gives the instance.
func (g *guest) modulesColumn() string {
	g.t.Helper()
	out := g.sh("initns ls --json | tr -d '\\n'; echo")
	m := regexp.MustCompile(`"name": *"` + DistroInstance + `"[^}]*"modules": *"([a-z]*)"`).FindStringSubmatch(out)
	if m == nil {
		g.t.Fatalf("initns ls --json has no modules for %s:\n%s", DistroInstance, out)
	}
	return m[1]
}

// checkLentModules: the tree has no modules of its own; it is lent the
// running kernel's, read-only, and loads one with its own modprobe, which
// the host's kernel then has.
func (g *guest) checkLentModules() {
	g.t.Helper()
	rel := KernelRelease()
	if got := g.modulesColumn(); got != "host" {
		g.t.Errorf("ls: modules %q, want host (the tree brings none)", got)
	}
	if g.hasModule("dummy") {
		g.t.Fatal("dummy is loaded before the instance asked for it")
	}
	if out, rc := g.execRC("modprobe dummy && lsmod"); rc != 0 || !regexp.MustCompile(`(?m)^dummy\s`).MatchString(out) {
		g.t.Errorf("modprobe dummy; lsmod in the instance: status %d:\n%s", rc, out)
	}
	if !g.hasModule("dummy") {
		g.t.Errorf("the instance's modprobe dummy did not load it into the kernel:\n%s", g.sh("cat /proc/modules"))
	}
	// systemd loads autofs4 as it starts; without modules it says
	// "Failed to find module 'autofs4'" (the first symptom).
	if !g.hasModule("autofs4") {
		g.t.Errorf("autofs4 is not loaded: the instance's systemd did not find it")
	}
	out, rc := g.execRC("grep \" /usr/lib/modules/" + rel + " \" /proc/self/mountinfo; touch /lib/modules/" + rel + "/x 2>&1")
	if rc == 0 || !strings.Contains(out, " ro,") || !strings.Contains(out, "Read-only file system") {
		g.t.Errorf("the lent modules are not read-only at /lib/modules/%s (status %d):\n%s", rel, rc, out)
	}
}

// hotplugNIC plugs a virtio NIC into the running guest: the instance's
// udev loads its driver from the lent modules (initns itself loads modules
// only at its own start).
func (g *guest) hotplugNIC() {
	g.t.Helper()
	if g.hasModule("virtio_net") {
		g.t.Fatal("virtio_net is loaded before the NIC is plugged in")
	}
	if out, rc := g.execRC("pidof systemd-udevd"); rc != 0 {
		g.t.Fatalf("no systemd-udevd in the instance (status %d): %s", rc, out)
	}
	if out, err := g.vm.Monitor.Command("device_add virtio-net-pci,id=hotnic"); err != nil || strings.Contains(out, "rror") {
		g.t.Fatalf("device_add virtio-net-pci: %v %s", err, out)
	}
	start := time.Now()
	for deadline := start.Add(90 * time.Second); !g.hasModule("virtio_net"); time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			g.t.Fatalf("90 s after device_add, virtio_net is not loaded; the instance's udev:\n%s",
				g.sh("initns exec "+DistroInstance+" -- journalctl -b -u systemd-udevd --no-pager | tail -n 20"))
		}
	}
	g.t.Logf("guest: hotplugged NIC: virtio_net loaded after %v", time.Since(start).Round(time.Millisecond))
	out, rc := g.execRC("ls /sys/bus/virtio/drivers/virtio_net/ | grep virtio")
	if rc != 0 {
		g.t.Errorf("virtio_net is loaded but drives no device: %s", out)
	}
}

// bootFiles lists the guest's /boot with a checksum of every file.
func (g *guest) bootFiles() string {
	g.t.Helper()
	return g.sh("(cd /boot && find . | sort | while read f; do if [ -f \"$f\" ]; then echo \"$f $(sha256sum <\"$f\" | cut -c1-16) $(stat -c %Y \"$f\")\"; else echo \"$f\"; fi; done)")
}

// installKernel installs Debian's package of the running kernel inside
// the instance (in /root, put there by the test), its hooks included
// (depmod, initramfs-tools), and checks the guest's boot partition (the
// second disk, on the guest's /boot) is untouched while the instance's
// own /boot gets the kernel and initrd.
func (g *guest) installKernel(deb string) {
	g.t.Helper()
	rel := KernelRelease()
	g.sh("mkdir -p /boot && mount -t ext4 /dev/vdb /boot")
	before := g.bootFiles()
	// The lent modules are read-only: unmount them inside the instance
	// first, as README says, so the package unpacks into its own tree.
	// Lazily: the instance's udevd keeps kmod's indexes there open.
	// Unpack and configure (depmod, the initramfs hook) timed apart.
	cmd := fmt.Sprintf("initns exec %s -- sh -c 'umount -l /lib/modules/%s && s=$(date +%%s) && dpkg --unpack /root/%s && u=$(date +%%s) && dpkg --configure -a 2>&1; echo dpkg status $? unpack $((u-s)) s configure $(($(date +%%s)-u)) s; ls /boot'", DistroInstance, rel, deb)
	start := time.Now()
	out, _, err := g.vm.Console.Run(cmd, 15*time.Minute)
	if err != nil {
		g.t.Fatalf("guest: %v", err)
	}
	g.t.Logf("guest: dpkg -i %s in the instance took %v (%s)", deb, time.Since(start).Round(time.Second), regexp.MustCompile(`unpack \d+ s configure \d+ s`).FindString(out))
	if !strings.Contains(out, "dpkg status 0") {
		g.t.Fatalf("dpkg -i %s in the instance failed:\n%s", deb, out)
	}
	for _, f := range []string{"vmlinuz-" + rel, "initrd.img-" + rel} {
		if !strings.Contains(out, f) {
			g.t.Errorf("no %s in the instance's own /boot after the install (the hooks did not run?):\n%s", f, out)
		}
	}
	if after := g.bootFiles(); after != before {
		g.t.Errorf("the guest's boot partition changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if out, rc := g.shRC("grep -c /dev/vdb /proc/$(initns ls --json | tr -d '\\n' | sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/')/mountinfo"); rc == 0 {
		g.t.Errorf("the instance has the boot partition mounted: %s", out)
	}
	g.sh("umount /boot")
	if got := g.modulesColumn(); got != "own" {
		g.t.Errorf("ls after the install: modules %q, want own", got)
	}
}

// driverCheck fakes a loaded NVIDIA module (a tmpfs on the guest's
// /sys/module with nvidia/version) and an instance with the libraries of
// another version: run --strict refuses, run boots it with the warning in
// its answer and the log. The instance is left running, at its login
// prompt.
func (g *guest) driverCheck(login string) {
	g.t.Helper()
	lib := "/var/lib/initns/rootfs/" + DistroInstance + "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.104.05"
	g.sh("mkdir -p /tmp/sysmodule/nvidia && echo 550.54.14 >/tmp/sysmodule/nvidia/version && mount --bind /tmp/sysmodule /sys/module && echo elf >" + lib)
	defer g.sh("umount /sys/module; rm -f " + lib)
	out, rc := g.shRC("initns run --strict " + DistroInstance + " 2>&1")
	if rc != 1 || !strings.Contains(out, "535.104.05") || !strings.Contains(out, "550.54.14") {
		g.t.Errorf("run --strict with a mismatched NVIDIA userspace: status %d, want 1 naming both versions:\n%s", rc, out)
	}
	if st := g.distroState().State; st != "stopped" {
		g.t.Fatalf("after run --strict refused, the instance is %s", st)
	}
	g.clearVT(1)
	off := g.vm.Console.Offset()
	start := time.Now()
	out, rc = g.shRC("initns run " + DistroInstance + " 2>&1")
	if rc != 0 || !strings.Contains(out, "initns: run "+DistroInstance+": warning:") || !strings.Contains(out, "535.104.05") {
		g.t.Errorf("run with a mismatched NVIDIA userspace: status %d, want 0 and a warning:\n%s", rc, out)
	}
	if _, rc := g.shRC("grep -q 'driver mismatch' " + daemonLog); rc != 0 {
		g.t.Errorf("no driver mismatch in the daemon's log")
	}
	g.waitLogin(off, start, login, "initns run (with the warning) to login")
}

// checkOwnModules: an instance with its own modules of the running kernel
// keeps them: nothing is mounted over them.
func (g *guest) checkOwnModules() {
	g.t.Helper()
	rel := KernelRelease()
	if got := g.modulesColumn(); got != "own" {
		g.t.Errorf("ls: modules %q, want own", got)
	}
	out, rc := g.execRC("grep -c \" /usr/lib/modules/" + rel + " \" /proc/self/mountinfo; wc -l </lib/modules/" + rel + "/modules.dep")
	f := strings.Fields(out)
	if rc != 0 || len(f) != 2 || f[0] != "0" {
		g.t.Errorf("something is mounted over the instance's own modules (status %d):\n%s", rc, out)
	}
	// Debian's whole kernel has thousands of modules; the lent directory
	// of the test initramfs a few dozen.
	if len(f) == 2 && len(f[1]) < 4 {
		g.t.Errorf("the instance's /lib/modules/%s has %s modules: not the package's own", rel, f[1])
	}
}
