#!/bin/sh
# demo.sh: `make demo`, the README's "see it work".
#
# Installs what is missing (as root, with apt-get; nothing when all is
# there), then builds the static binary, a busybox image and an initramfs,
# boots them in QEMU (software emulation, no KVM needed) with initns as
# PID 1, and on the guest's serial console creates an instance from the
# image, runs it, shows `initns ls` and powers the machine off.
#
#   INTERACTIVE=1 testdata/vm/demo.sh   leaves the serial console to you
#                                       after the instance runs
set -eu
cd "$(dirname "$0")/../.."

packages="busybox-static qemu-system-x86 linux-image-amd64 cpio zstd xz-utils"
missing=
for p in $packages; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "demo: missing packages:$missing; run as root to install them" >&2
		exit 1
	fi
	echo "demo: installing$missing"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
fi
command -v go >/dev/null || { echo "demo: the Go toolchain (go) is not on PATH" >&2; exit 1; }
exec go run ./vmtest/demo
