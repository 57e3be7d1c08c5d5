package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The hardware tests' material (README, "Hardware"): Debian's package of
// the guest's own kernel, installed inside an instance, and a disk that
// stands for the machine's boot partition.

// debCacheDir is where downloaded Debian packages are kept between runs:
// $DEBOOTSTRAP_CACHE, else /var/cache/initns-test/debs.
func debCacheDir() string {
	if d := os.Getenv("DEBOOTSTRAP_CACHE"); d != "" {
		return d
	}
	return defaultDebCache
}

// KernelRelease is the release of the kernel the guests boot (Kernel()),
// as uname -r says it inside them.
func KernelRelease() string {
	return strings.TrimPrefix(filepath.Base(Kernel()), "vmlinuz-")
}

// KernelDeb returns Debian's package of the guests' kernel
// (linux-image-RELEASE), fetched once with apt-get download from the
// mirror apt uses here into the package cache's kernel/, and repacked
// there with its data uncompressed (dpkg-deb -Znone): the same files and
// maintainer scripts, but no xz to undo under emulation, where it took
// minutes of the guest's CPU.
func KernelDeb() (string, error) {
	rel := KernelRelease()
	if rel == "" {
		return "", fmt.Errorf("no /boot/vmlinuz-*: apt-get install linux-image-amd64")
	}
	dir := filepath.Join(debCacheDir(), "kernel")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	pkg := "linux-image-" + rel
	if have, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.uncompressed.deb")); len(have) > 0 {
		return have[0], nil
	}
	// In a directory of its own, moved into place once whole.
	tmp, err := os.MkdirTemp(dir, ".download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("apt-get", "download", "-q", pkg)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download %s (the guests' kernel package, from the Debian mirror; apt-get update first): %w\n%s", pkg, err, out)
	}
	got, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
	if len(got) != 1 {
		return "", fmt.Errorf("apt-get download %s left %v", pkg, got)
	}
	tree := filepath.Join(tmp, "tree")
	repacked := strings.TrimSuffix(got[0], ".deb") + ".uncompressed.deb"
	for _, args := range [][]string{{"-R", got[0], tree}, {"-Znone", "-b", tree, repacked}} {
		if out, err := exec.Command("dpkg-deb", args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("dpkg-deb %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	dst := filepath.Join(dir, filepath.Base(repacked))
	return dst, os.Rename(repacked, dst)
}

// BootDisk writes dir/boot.img, a small ext4 image standing for the
// machine's boot partition: a kernel, an initrd and a bootloader
// configuration, which the guest mounts on its own /boot.
func BootDisk(dir string) (string, error) {
	tree := filepath.Join(dir, "boot")
	files := map[string]string{
		"grub/grub.cfg":                       "menuentry 'the machine' { linux /vmlinuz-" + KernelRelease() + " }\n",
		"vmlinuz-" + KernelRelease():          "the machine's kernel\n",
		"initrd.img-" + KernelRelease():       "the machine's initrd\n",
		"EFI/debian/grubx64.efi":              "the machine's bootloader\n",
		"config-" + KernelRelease() + ".orig": "the machine's config\n",
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Join(tree, filepath.Dir(p)), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(tree, p), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	out := filepath.Join(dir, "boot.img")
	return out, Ext4Image(tree, out, 32<<20)
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}
