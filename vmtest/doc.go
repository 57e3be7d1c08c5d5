// Package vmtest boots the project in a virtual machine, where PID 1,
// keyboards and reboots are the point, and holds the VM tests of SPEC §8.
//
// The harness: Build makes the static binary, a busybox test image and an
// initramfs with the scripts of testdata/vm (the binary installed
// busybox-style as /init, busybox-static, the guest kernel's modules for
// QEMU's hardware); Boot starts Debian's kernel (/boot/vmlinuz-*, package
// linux-image-amd64) in QEMU with software emulation (-accel tcg: it runs
// where KVM does not) and gives a Console (the serial line: Run a command
// and get its output and status, Expect markers, with timeouts) and a
// Monitor (QEMU's monitor: sendkey ctrl-alt-delete, system_reset, quit).
// A failed test prints the whole console log.
//
// The tests, each on its own guest, in parallel:
//
//	TestHarness    the harness itself, with a busybox script as /init:
//	               console commands, system_reset, sendkey, quit
//	TestPID1       mounts, socket, modules (by modalias, evdev, .ko.xz and
//	               .ko.zst, initns.modules=, MODULE.PARAM=, modprobe.d
//	               blacklist and options) and the evdev
//	               keyboard, errors in the kernel log, a storm of 1,000
//	               orphans, a panicking handler, stray signals,
//	               Ctrl+Alt+Del (graceful reboot, boots again), SIGPWR
//	TestInstances  new, run, reboot inside, stop, rm, what the instance's
//	               init gets (SPEC §6), `initns poweroff`; instances boot
//	               by move-and-chroot, the initramfs being the root
//	TestPivotRoot  a read-only tmpfs root that PID 1 makes writable,
//	               instances by pivot_root, SIGTERM reboot, SIGUSR2
//	               poweroff
//	TestConsole    Ctrl+Alt+J, VT63 and the host shell (SPEC §7)
//	TestBootIntoInstance  initns.run= boots an instance with nothing typed
//	TestBootMenu   the boot menu on VT1 (initns.console=tty1), driven by
//	               sendkey: the countdown shows, s opens the host shell
//	               there and the menu comes back, Down and Enter boot
//	               another instance; then a 3 s countdown boots the default
//	               and VT1 is given back cooked
//	TestBootFallback  a default whose init exits at once: initns.menu=0
//	               shows no menu, three tries, a failed mark, the fallback
//	               boots, the history names each try; with no fallback the
//	               menu on the serial console ttyS1 (a second serial port)
//	               names the failure, counts down to nothing, and typed
//	               arrows and Enter boot another
//	TestBombs      issue 12's xz bomb and PAX bomb fed to PID 1 in a
//	               512 MiB guest: refused or extracted, PID 1's peak
//	               resident memory small, the guest up, ls answering
//	TestDistro     real Debian trees, one guest per init (systemd, sysvinit,
//	               openrc, runit, busybox; testdata/distro/mkdistro.sh),
//	               the state root on a virtio ext4 disk (rdinit=/sbin/disk-root):
//	               the detected init in ls, login prompt on tty1, the
//	               init's default state, exec status, own hostname,
//	               `initns shell deb` on the systemd tree (root's login
//	               bash on a pts of the instance's devpts, systemctl
//	               status in it; through vmtest/ptyrun, a pty of its own),
//	               graceful stop under 5 s, reboot and poweroff inside.
//	               The systemd guest also checks the hardware view
//	               (README, "Hardware"): the lent modules (modprobe
//	               dummy, read-only), a hotplugged virtio NIC whose
//	               driver the instance's udev loads, Debian's kernel
//	               package installed in the instance leaving the
//	               guest's boot partition (a second disk) untouched, the
//	               NVIDIA-style check (a faked /sys/module/nvidia), and
//	               the instance's own modules kept at the next boot.
//	               The kernel package's install takes that guest 3 to 5
//	               minutes under emulation (most of it depmod and the
//	               initramfs hook), in parallel with the other trees.
//	               The trees are cached in /var/cache/initns-test/distro
//	               (INITNS_DISTRO_CACHE), built on first use (minutes:
//	               give go test -timeout 60m, as make test does)
//	TestSwitch     two systemd instances of the distro tree: switch by
//	               command and by Ctrl+Alt+PgDn, a shell on a's VT kept
//	               across a round trip, VT modes and screen put back,
//	               Ctrl+Alt+J with b in front, the memory policy in a
//	               guest whose memory is filled; the switch latency
//	TestDistroCache  the tree cache (make distros rebuilds it)
//	TestDistroDiskMetadata  mkfs.ext4 -d keeps what a tree needs
//
// Run them with `go test -timeout 60m ./vmtest` (13 to 16 minutes on two
// cores, most of it TestDistro and TestSwitch; -v shows
// the boot-to-socket times). INITNS_VM_TEE=1 copies every console to
// stderr as it comes. They fail, never skip, when QEMU, the kernel or
// busybox-static is missing: `make deps` installs them.
package vmtest
