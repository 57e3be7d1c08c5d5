#!/bin/sh
# mkimage.sh OUT.tar.gz [INIT]
#
# Builds a small instance image the VM tests and `make demo` boot: a root
# filesystem with busybox-static and its applets, and an /sbin/init shell
# script that prints markers on the console, exits on the systemd halt
# signal (SIGRTMIN+4), SIGTERM and SIGINT, and otherwise sleeps. With INIT
# (a static binary, such as testdata/testinit built), /sbin/init is that
# binary instead.
#
# The script's markers, which the VM tests wait for:
#   testinit: up N        (N counts the boots of this root filesystem)
#   testinit: halt SIG    (the init got its halt signal and exits 0)
set -eu

out=${1:?usage: mkimage.sh OUT.tar.gz [INIT]}
init=${2:-}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "mkimage.sh: $busybox missing: apt-get install busybox-static" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/sbin" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/tmp" "$stage/root" "$stage/etc"
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list); do
	case $applet in busybox|init|linuxrc) continue ;; esac
	ln -s busybox "$stage/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$stage/etc/passwd"
echo 'root:x:0:' >"$stage/etc/group"

cat >"$stage/sbin/init" <<'EOF'
#!/bin/sh
# A test instance's init: PID 1 of the instance's PID namespace.
# Signals with no handler are ignored by the kernel for a namespace's init,
# so every signal the manager may send has a trap here.
n=$(( $(cat /boots 2>/dev/null || echo 0) + 1 ))
echo "$n" >/boots
echo "testinit: up $n pid $$"
# 38 is SIGRTMIN+4 as glibc and systemd count it: the halt signal.
trap 'echo "testinit: halt RTMIN+4"; exit 0' 38
trap 'echo "testinit: halt TERM"; exit 0' TERM
trap 'echo "testinit: halt INT"; exit 0' INT
while :; do
	sleep 1 &
	wait $!
done
EOF
chmod 0755 "$stage/sbin/init"
[ -z "$init" ] || install -m 0755 "$init" "$stage/sbin/init"

tar -C "$stage" --numeric-owner --owner=0 --group=0 -czf "$out.tmp" .
mv "$out.tmp" "$out"
