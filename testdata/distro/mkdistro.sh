#!/bin/sh
# mkdistro.sh INIT OUT.tar [MIRROR]
#
# Builds a Debian bookworm root filesystem with debootstrap
# (--variant=minbase) around one of the init systems Debian ships, and
# writes it as a plain tar (numeric owners, xattrs and ACLs, as GNU tar
# keeps them) to OUT.tar. The VM tests and `make bench` boot these trees
# as instances; vmtest caches them, keyed by a hash of this file, so a
# change to a package list below rebuilds them.
#
#   systemd   systemd-sysv, with udev and kmod (hotplugged hardware gets
#             its driver: the hardware tests plug a NIC in) and
#             initramfs-tools and linux-base (what Debian's kernel package
#             needs, so the tests can install it in the instance and run
#             its hooks; initramfs-tools set to MODULES=list, the smallest
#             initrd, as emulation makes "most" take minutes)
#   sysvinit  sysvinit-core (with Debian's sysv-rc and initscripts)
#   openrc    openrc with sysvinit-core (sysvinit's /sbin/init runs
#             OpenRC's runlevels from /etc/inittab, as Debian sets it up),
#             installed with apt in the tree after debootstrap
#   runit     runit-init (runit as /sbin/init, gettys from getty-run)
#   busybox   busybox-static as /sbin/init with an /etc/inittab: Debian
#             ships busybox but never as an init, so the tree is made here
#             the way a user of busybox init would make it
#
# Every tree gets /etc/hostname "deb-INIT" (the tests check it never leaks
# to the host) and root without a password, so the consoles' login
# prompts can be used by hand. MIRROR defaults to the first Debian mirror
# of apt's own sources on this machine. DEBOOTSTRAP_CACHE (a directory)
# keeps the downloaded packages between builds.
set -eu

init=${1:?usage: mkdistro.sh systemd|sysvinit|openrc|runit|busybox OUT.tar [MIRROR]}
out=${2:?usage: mkdistro.sh INIT OUT.tar [MIRROR]}
mirror=${3:-}
suite=bookworm

case $init in
systemd) include=systemd-sysv,udev,kmod,initramfs-tools,linux-base ;;
sysvinit) include=sysvinit-core ;;
openrc) include=sysvinit-core ;; # openrc: swapped in below
runit) include=runit-init,getty-run ;;
busybox) include=busybox-static ;;
*) echo "mkdistro.sh: unknown init '$init' (systemd, sysvinit, openrc, runit or busybox)" >&2; exit 2 ;;
esac

if [ -z "$mirror" ]; then
	# The first Debian mirror apt uses here (deb822 URIs: or one-line deb),
	# not the security one.
	mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" && $2 !~ /security/ { print $2; exit }')
	[ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }')
	[ -n "$mirror" ] || { echo "mkdistro.sh: no Debian mirror in /etc/apt/sources.list{,.d}: give one as the third argument" >&2; exit 1; }
fi
command -v debootstrap >/dev/null || { echo "mkdistro.sh: apt-get install debootstrap" >&2; exit 1; }

stage=$(mktemp -d "${TMPDIR:-/tmp}/mkdistro.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cache=
if [ -n "${DEBOOTSTRAP_CACHE:-}" ]; then
	mkdir -p "$DEBOOTSTRAP_CACHE"
	cache=--cache-dir=$DEBOOTSTRAP_CACHE
fi
# shellcheck disable=SC2086
if ! debootstrap --variant=minbase --include="$include" $cache "$suite" "$stage/root" "$mirror" >"$stage/log" 2>&1; then
	tail -n 40 "$stage/log" >&2
	[ ! -f "$stage/root/debootstrap/debootstrap.log" ] || tail -n 40 "$stage/root/debootstrap/debootstrap.log" >&2
	echo "mkdistro.sh: debootstrap of $init ($include) from $mirror failed" >&2
	exit 1
fi
r=$stage/root

echo "deb-$init" >"$r/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdeb-%s\n' "$init" >"$r/etc/hosts"
# An empty password: a person at the console can log in as root.
sed -i 's/^root:[^:]*:/root::/' "$r/etc/shadow"

# No getty on the serial line. The VM tests (and a machine run the same
# way) keep initns's host shell on ttyS0 (initns.shell=ttyS0), which is
# also the kernel's console; a getty there steals the line: it takes
# ttyS0 as its controlling terminal, so initns can start no new shell on
# it, and reads the input typed for the host shell. Seen with busybox's
# "::respawn:/sbin/getty -L 0 console" ("Password:", "Login timed out"
# answering the tests' commands). The gettys stay on the VTs, where
# Debian puts them by default. runit's getty-ttyS0 and systemd's
# generator would add one on the kernel's console: serial-getty@ttyS0 on
# a machine, console-getty on /dev/console when systemd thinks it runs in
# a container (seen as "Debian GNU/Linux 12 deb-systemd console" before
# initns told it container= empty).
case $init in
systemd)
	ln -sf /dev/null "$r/etc/systemd/system/serial-getty@ttyS0.service"
	ln -sf /dev/null "$r/etc/systemd/system/console-getty.service"
	# Its progress on the console, as on a machine booted without
	# "quiet": with the kernel's quiet (the tests' command line) systemd
	# prints only failures, and the tests look for its shutdown there.
	mkdir -p "$r/etc/systemd/system.conf.d"
	printf '[Manager]\nShowStatus=yes\n' >"$r/etc/systemd/system.conf.d/show-status.conf"
	sed -i 's/^MODULES=.*/MODULES=list/' "$r/etc/initramfs-tools/initramfs.conf"
	;;
runit) rm -f "$r/etc/runit/runsvdir/default/getty-ttyS0" ;;
esac

case $init in
openrc)
	# debootstrap resolves every alternative to its first choice:
	# sysvinit-core's "sysv-rc | file-rc | openrc" brings sysv-rc, which
	# conflicts with openrc, and debootstrap --include=openrc fails. So
	# the tree is sysvinit's, and apt, which resolves the conflict, swaps
	# sysv-rc for openrc (debootstrap left the mirror in sources.list and
	# the host's resolv.conf). policy-rc.d keeps services from starting.
	printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
	chmod 0755 "$r/usr/sbin/policy-rc.d"
	if ! { chroot "$r" apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive chroot "$r" apt-get install -y -q --no-install-recommends openrc; } >"$stage/log" 2>&1; then
		tail -n 40 "$stage/log" >&2
		echo "mkdistro.sh: apt-get install openrc in the tree failed" >&2
		exit 1
	fi
	rm "$r/usr/sbin/policy-rc.d"
	;;
busybox)
	ln -sf /bin/busybox "$r/sbin/init"
	cat >"$r/etc/inittab" <<'EOF'
# busybox init: what a user of it would write
::sysinit:/etc/init.d/rcS
tty1::respawn:/sbin/getty 38400 tty1
tty2::respawn:/sbin/getty 38400 tty2
::ctrlaltdel:/bin/busybox reboot
::shutdown:/bin/busybox sh -c 'echo "busybox init: the system is going down"; sync'
EOF
	mkdir -p "$r/etc/init.d"
	cat >"$r/etc/init.d/rcS" <<'EOF'
#!/bin/busybox sh
# busybox init's sysinit: mount what a system needs, name the host.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
/bin/busybox mkdir -p /dev/pts
/bin/busybox mount -t devpts -o gid=5,mode=620 devpts /dev/pts
/bin/busybox hostname -F /etc/hostname
echo "busybox init: sysinit done, runlevel default"
echo default >/run/runlevel
EOF
	chmod 0755 "$r/etc/init.d/rcS"
	# getty: busybox's own applet, as /sbin/getty (util-linux's agetty
	# is there too, but busybox's is what such a system uses).
	ln -sf /bin/busybox "$r/sbin/getty"
	# halt, poweroff and reboot: busybox's applets, which signal its init
	# (no init package is installed to provide them).
	for cmd in halt poweroff reboot; do ln -sf /bin/busybox "$r/sbin/$cmd"; done
	;;
esac

rm -rf "$r/var/cache/apt/archives"/*.deb "$r/var/cache/apt"/*.bin "$r/var/lib/apt/lists"/* "$r/debootstrap"
tar -C "$r" --numeric-owner --xattrs --xattrs-include='*' --acls -cf "$out.tmp" .
mv "$out.tmp" "$out"
