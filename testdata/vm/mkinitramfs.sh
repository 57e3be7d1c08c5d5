#!/bin/sh
# mkinitramfs.sh -o OUT [-b BINARY] [-k KERNEL] [-i IMAGE]... [-s SOCKCAT]
#                [-t TOOL]... [-m MODPROBE.CONF]... [-c gzip|zstd] [-f FIRMWARE]
#
# Builds the initramfs (cpio newc, compressed) that the VM tests and
# `make demo` boot:
#
#   /bin/initns.bin      the project's static binary (-b), installed
#                        busybox-style: /init, /sbin/init and /bin/initns
#                        are links to it, so the kernel starts the daemon
#                        as PID 1 and the shell finds the client
#   /bin/busybox + applets (busybox-static): /bin/sh and the tools the
#                        tests drive the guest with
#   /lib/modules/KVER/   the modules the guest's QEMU hardware needs (evdev
#                        and friends, with their dependencies), and
#                        modules.alias/modules.dep filtered to them; evdev
#                        is compressed with xz and e1000 with zstd, so the
#                        guest proves that compressed modules load;
#                        depmod's binary indexes too, which the kmod of an
#                        instance that is lent this directory reads
#   /lib/firmware/       the firmware directory -f (default /lib/firmware,
#                        when there is one): the kernel loads firmware
#                        from the root initns runs on, never an instance's
#   /var/lib/initns/images/  the test images given with -i
#   /bin/sockcat         the compatibility-mode socket tool (-s)
#   /bin/TOOL            other test tools given with -t (ptyrun)
#   /etc/modprobe.d/     the modprobe.d files given with -m
#   /sbin/tmpfs-root     rdinit= script: copies the initramfs into a tmpfs,
#                        makes it read-only and switch_roots to it with
#                        stdin, stdout and stderr closed, so initns runs on
#                        a root where pivot_root works, that it must
#                        remount read-write, with no console to start with
#   /sbin/disk-root      rdinit= script: mounts the ext4 disk /dev/vda on
#                        /var/lib/initns, then execs /init as PID 1
#
# Without -b, /init is a busybox script that only starts a shell on ttyS0:
# the harness's own self-test, independent of the daemon.
#
# KERNEL defaults to the newest /boot/vmlinuz-*; its version names the
# module directory. MODULES overrides the module list.
set -eu

out= binary= kernel= sockcat= comp=zstd images= confs= firmware=/lib/firmware tools=
while getopts o:b:k:i:s:t:m:c:f: opt; do
	case $opt in
	o) out=$OPTARG ;;
	b) binary=$OPTARG ;;
	k) kernel=$OPTARG ;;
	i) images="$images $OPTARG" ;;
	s) sockcat=$OPTARG ;;
	t) tools="$tools $OPTARG" ;;
	m) confs="$confs $OPTARG" ;;
	c) comp=$OPTARG ;;
	f) firmware=$OPTARG ;;
	*) echo "usage: mkinitramfs.sh -o OUT [-b BINARY] [-k KERNEL] [-i IMAGE]... [-s SOCKCAT] [-t TOOL]... [-m MODPROBE.CONF]... [-c gzip|zstd] [-f FIRMWARE]" >&2; exit 2 ;;
	esac
done
[ -n "$out" ] || { echo "mkinitramfs.sh: -o OUT is required" >&2; exit 2; }
[ -n "$kernel" ] || kernel=$(ls -v /boot/vmlinuz-* 2>/dev/null | tail -n 1)
[ -r "$kernel" ] || { echo "mkinitramfs.sh: no kernel at '$kernel': apt-get install linux-image-amd64" >&2; exit 1; }
kver=${kernel##*/vmlinuz-}
moddir=/lib/modules/$kver
[ -r "$moddir/modules.dep" ] || { echo "mkinitramfs.sh: $moddir/modules.dep missing: the modules of $kernel are not installed" >&2; exit 1; }
busybox=${BUSYBOX:-/bin/busybox}
"$busybox" --list >/dev/null 2>&1 || { echo "mkinitramfs.sh: $busybox missing: apt-get install busybox-static" >&2; exit 1; }

# The hardware of QEMU's default pc machine that Debian builds as modules,
# and evdev, which initns loads by itself. atkbd, i8042 and serio are
# built in; modules.builtin is copied so the guest can tell. dummy matches
# no hardware: the tests name it with initns.modules=.
MODULES=${MODULES:-"evdev e1000 psmouse serio_raw pcspkr i2c_piix4 qemu_fw_cfg joydev button dummy"}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for d in bin sbin dev proc sys run tmp root etc var/lib/initns/images "lib/modules/$kver"; do
	mkdir -p "$stage/$d"
done
# The kernel opens /dev/console for init's stdin, stdout and stderr before
# anything is mounted, so the node must be in the archive; /dev/null too,
# for the Go runtime, which opens it for any of the three that is closed
# and dies before main when it cannot.
mknod -m 600 "$stage/dev/console" c 5 1
mknod -m 666 "$stage/dev/null" c 1 3
echo 'root:x:0:0:root:/root:/bin/sh' >"$stage/etc/passwd"
echo 'root:x:0:' >"$stage/etc/group"

cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list); do
	case $applet in busybox|init|linuxrc) continue ;; esac
	ln -s busybox "$stage/bin/$applet"
done

if [ -n "$binary" ]; then
	cp "$binary" "$stage/bin/initns.bin"
	# Relative links, busybox-style: they must resolve inside the guest.
	ln -sf initns.bin "$stage/bin/init"
	ln -sf initns.bin "$stage/bin/initns"
	ln -s bin/initns.bin "$stage/init"
	ln -s ../bin/initns.bin "$stage/sbin/init"
else
	cat >"$stage/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "vminit: up"
while :; do setsid -c sh </dev/ttyS0 >/dev/ttyS0 2>&1; done
EOF
	chmod 755 "$stage/init"
fi
# rdinit=/sbin/tmpfs-root boots initns on a read-only tmpfs root instead
# of the initramfs's rootfs, where pivot_root works: the tests take both
# paths.
cat >"$stage/sbin/tmpfs-root" <<'EOF2'
#!/bin/sh
mkdir -p /newroot
mount -t tmpfs -o mode=0755 tmpfs /newroot
cp -a /bin /sbin /lib /etc /var /root /dev /newroot/
mkdir -p /newroot/proc /newroot/sys /newroot/run /newroot/tmp
# Read-only, as a kernel mounts a disk root with "ro": PID 1 must make it
# writable. (busybox mount finds the mount to change in /proc/mounts.)
mount -t proc proc /proc
mount -o remount,ro /newroot
umount /proc
# With no stdin, stdout or stderr, as a kernel starts init when the
# initramfs lacks /dev/console: PID 1 must open the console itself.
exec switch_root /newroot /sbin/init "$@" <&- >&- 2>&-
EOF2
chmod 755 "$stage/sbin/tmpfs-root"
# rdinit=/sbin/disk-root boots initns with its state root on the virtio
# disk /dev/vda (ext4), mounted on /var/lib/initns before PID 1 starts:
# the distro tests' Debian trees are too big for an initramfs. MODULES
# must then hold virtio_pci, virtio_blk, ext4 and crc32c_generic.
cat >"$stage/sbin/disk-root" <<'EOF2'
#!/bin/sh
mount -t proc proc /proc
# A devtmpfs for /dev/vda only: initns mounts its own.
mount -t devtmpfs devtmpfs /dev
modprobe -a crc32c_generic virtio_pci virtio_blk ext4
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mount -t ext4 /dev/vda /var/lib/initns || echo "disk-root: no ext4 state root on /dev/vda"
umount /dev
umount /proc
# exec keeps PID 1, and the kernel's /dev/console as stdin, stdout, stderr.
exec /init "$@"
EOF2
chmod 755 "$stage/sbin/disk-root"
[ -z "$sockcat" ] || cp "$sockcat" "$stage/bin/sockcat"
for tool in $tools; do cp "$tool" "$stage/bin/"; done
for img in $images; do cp "$img" "$stage/var/lib/initns/images/"; done
mkdir -p "$stage/etc/modprobe.d"
for conf in $confs; do cp "$conf" "$stage/etc/modprobe.d/"; done

# The closure of MODULES over modules.dep, as paths relative to $moddir.
paths=$(awk -v want="$MODULES" '
	function base(p) { sub(/.*\//, "", p); sub(/\.ko(\..*)?$/, "", p); gsub(/-/, "_", p); return p }
	BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) { gsub(/-/, "_", w[i]); need[w[i]] = 1 } }
	{ sub(/:$/, "", $1); name = base($1); line[name] = $0; path[name] = $1 }
	END {
		changed = 1
		while (changed) {
			changed = 0
			for (m in need) {
				if (!(m in line) || done[m]) continue
				done[m] = 1; print path[m]
				k = split(line[m], f, " ")
				for (i = 2; i <= k; i++) { d = base(f[i]); if (!(d in need)) { need[d] = 1; changed = 1 } }
			}
		}
	}' "$moddir/modules.dep")

compressor() {
	case ${1##*/} in
	evdev.ko) echo xz ;;
	e1000.ko) echo zst ;;
	*) echo none ;;
	esac
}
: >"$stage/lib/modules/$kver/rename.sed"
for p in $paths; do
	mkdir -p "$stage/lib/modules/$kver/${p%/*}"
	case $(compressor "$p") in
	# The kernel's own module compression uses crc32 checks for xz.
	xz) xz --check=crc32 -c "$moddir/$p" >"$stage/lib/modules/$kver/$p.xz"
		echo "s|$p|$p.xz|g" >>"$stage/lib/modules/$kver/rename.sed" ;;
	zst) zstd -q -c "$moddir/$p" >"$stage/lib/modules/$kver/$p.zst"
		echo "s|$p|$p.zst|g" >>"$stage/lib/modules/$kver/rename.sed" ;;
	*) cp "$moddir/$p" "$stage/lib/modules/$kver/$p" ;;
	esac
done
names=$(for p in $paths; do b=${p##*/}; b=${b%.ko}; echo "$b" | tr - _; done)
awk -v names="$names" 'BEGIN { n = split(names, a, "\n"); for (i = 1; i <= n; i++) keep[a[i]] = 1 }
	$1 == "alias" && ($3 in keep)' "$moddir/modules.alias" >"$stage/lib/modules/$kver/modules.alias"
grep -F -f /dev/stdin "$moddir/modules.dep" <<EOF | sed -f "$stage/lib/modules/$kver/rename.sed" >"$stage/lib/modules/$kver/modules.dep"
$(for p in $paths; do echo "$p:"; done)
EOF
rm "$stage/lib/modules/$kver/rename.sed"
cp "$moddir/modules.builtin" "$moddir/modules.builtin.modinfo" "$stage/lib/modules/$kver/"
for p in $paths; do echo "$p"; done >"$stage/lib/modules/$kver/modules.order"
# The binary indexes (modules.dep.bin, modules.alias.bin, ...) that kmod
# reads: an instance's modprobe and udev use this directory when initns
# lends it. The text files stay those written above.
for f in modules.dep modules.alias; do cp "$stage/lib/modules/$kver/$f" "$stage/$f.txt"; done
command -v depmod >/dev/null || { echo "mkinitramfs.sh: depmod missing: apt-get install kmod" >&2; exit 1; }
depmod -b "$stage" "$kver"
for f in modules.dep modules.alias; do mv "$stage/$f.txt" "$stage/lib/modules/$kver/$f"; done
if [ -d "$firmware" ]; then
	mkdir -p "$stage/lib/firmware"
	cp -a "$firmware/." "$stage/lib/firmware/"
fi

case $comp in
gzip) compress="gzip -1" ;;
zstd) compress="zstd -q -3" ;;
*) echo "mkinitramfs.sh: unknown compression $comp" >&2; exit 2 ;;
esac
(cd "$stage" && find . -print | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | $compress >"$out.tmp"
mv "$out.tmp" "$out"
