package vmtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"

	"initns/store"
)

// DistroInits are the init systems testdata/distro/mkdistro.sh builds a
// Debian tree around.
var DistroInits = []string{"systemd", "sysvinit", "openrc", "runit", "busybox"}

// DistroInstance is the name of the instance a distro disk holds.
const DistroInstance = "deb"

// DistroRdinit is the initramfs script (rdinit=) that mounts a distro disk
// on /var/lib/initns before it starts initns as PID 1.
const DistroRdinit = "/sbin/disk-root"

// distroModules are added to mkinitramfs.sh's default module list for the
// disk: virtio_blk's alias only appears once virtio_pci has bound the
// device, and ext4 checksums its metadata with crc32c, which the kernel
// would otherwise ask a modprobe for. virtio_net and autofs4 are for the
// instance, which is lent this directory (README, "Hardware"): the NIC the
// hardware test plugs in, and the module systemd loads as it starts.
const distroModules = "virtio_pci virtio_blk ext4 crc32c_generic virtio_net autofs4"

const (
	defaultDistroCache = "/var/cache/initns-test/distro"
	defaultDebCache    = "/var/cache/initns-test/debs"
	distroScript       = "testdata/distro/mkdistro.sh"
)

// DistroCacheDir returns where DistroTar keeps its trees:
// $INITNS_DISTRO_CACHE, else /var/cache/initns-test/distro.
func DistroCacheDir() string {
	if d := os.Getenv("INITNS_DISTRO_CACHE"); d != "" {
		return d
	}
	return defaultDistroCache
}

// DistroTar returns the path of a plain tar of a Debian tree built around
// init (one of DistroInits) by mkdistro.sh, building it first when the
// cache has none. The file is INIT-KEY.tar, KEY a hash of mkdistro.sh and
// init, so an edit of the script rebuilds; older keys of the same init are
// removed. A flock per init makes parallel callers wait for one build, and
// the tar appears under its name only when complete.
func DistroTar(init string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	script, err := os.ReadFile(filepath.Join(root, distroScript))
	if err != nil {
		return "", err
	}
	dir := DistroCacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("distro cache: %w", err)
	}
	path := filepath.Join(dir, init+"-"+distroKey(script, init)+".tar")
	unlock, err := lockFile(filepath.Join(dir, init+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := removeStale(dir, init, path); err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	return path, buildDistro(root, init, path)
}

// distroKey is the cache key of init's tree: 12 hex digits of the sha256
// of the script and the init's name.
func distroKey(script []byte, init string) string {
	h := sha256.New()
	h.Write(script)
	h.Write([]byte{0})
	h.Write([]byte(init))
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// lockFile takes an exclusive flock on path, waiting for it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("distro cache lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("distro cache lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// removeStale removes init's cached trees other than keep, and temporary
// files a killed build left.
func removeStale(dir, init, keep string) error {
	old, err := filepath.Glob(filepath.Join(dir, init+"-*.tar*"))
	if err != nil {
		return err
	}
	stale := regexp.MustCompile(`^` + regexp.QuoteMeta(init) + `-[0-9a-z]+\.tar`)
	for _, p := range old {
		if p != keep && stale.MatchString(filepath.Base(p)) {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("remove stale distro tree: %w", err)
			}
		}
	}
	return nil
}

// buildDistro runs mkdistro.sh into a temporary name beside path and
// renames the result into place.
func buildDistro(root, init, path string) error {
	tmp := path + ".build"
	cmd := exec.Command("sh", distroScript, init, tmp)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DEBOOTSTRAP_CACHE="+debCacheDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mkdistro.sh %s (apt-get install debootstrap; it needs the Debian mirror): %w\n%s", init, err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("distro cache: %w", err)
	}
	return nil
}

// DistroDisk writes dir/disk.img, a sparse ext4 image of an initns state
// root holding the instance DistroInstance made from init's tree, for
// the initramfs of DistroInitramfs to mount on /var/lib/initns. The
// image itself is left out of images/: the instance is all a test needs.
// The files extra are copied into the instance's /root.
func DistroDisk(ctx context.Context, dir, init string, extra ...string) (string, error) {
	return distroDisk(ctx, dir, init, []string{DistroInstance}, extra)
}

// DistroDiskOf is DistroDisk with an instance of each of names, all made
// from init's tree.
func DistroDiskOf(ctx context.Context, dir, init string, names ...string) (string, error) {
	return distroDisk(ctx, dir, init, names, nil)
}

func distroDisk(ctx context.Context, dir, init string, names, extra []string) (string, error) {
	tar, err := DistroTar(init)
	if err != nil {
		return "", err
	}
	state := filepath.Join(dir, "state")
	defer os.RemoveAll(state)
	size, err := distroState(ctx, state, tar, init+".tar", names)
	if err != nil {
		return "", err
	}
	for _, f := range extra {
		dst := filepath.Join(state, "rootfs", names[0], "root", filepath.Base(f))
		if err := linkOrCopy(f, dst); err != nil {
			return "", err
		}
		size += fileSize(f)
	}
	disk := filepath.Join(dir, "disk.img")
	// Room to boot, log and write: the trees and as much again, and a
	// gigabyte, sparse, so only what mkfs writes takes space.
	if err := Ext4Image(state, disk, 2*size+1<<30); err != nil {
		return "", err
	}
	return disk, nil
}

// distroState makes the state root with the instances names from tar
// (copied in as images/image, removed again) and returns their size.
func distroState(ctx context.Context, state, tar, image string, names []string) (int64, error) {
	s, err := store.Open(state)
	if err != nil {
		return 0, err
	}
	if err := linkOrCopy(tar, s.ImagePath(image)); err != nil {
		return 0, err
	}
	var size int64
	for _, name := range names {
		if err := s.New(ctx, name, image, nil); err != nil {
			return 0, fmt.Errorf("new %s from %s: %w", name, tar, err)
		}
		in, err := s.Instance(name)
		if err != nil {
			return 0, err
		}
		size += in.Size
	}
	return size, os.Remove(s.ImagePath(image))
}

// linkOrCopy hard-links src to dst, or copies it across file systems.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// Ext4Image writes a sparse ext4 image of size bytes holding tree
// (mkfs.ext4 -d: owners, modes, hard links, device nodes, xattrs such as
// security.capability and ACLs are kept, which TestDistroDiskMetadata
// checks). mkfs makes the file system's root 0755 whatever tree's mode
// is; debugfs sets it to tree's, since a state root is 0711.
func Ext4Image(tree, out string, size int64) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	f.Close()
	if err != nil {
		return err
	}
	if o, err := exec.Command("mkfs.ext4", "-F", "-q", "-d", tree, out).CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4 -d %s (apt-get install e2fsprogs): %w\n%s", tree, err, o)
	}
	fi, err := os.Stat(tree)
	if err != nil {
		return err
	}
	mode := fmt.Sprintf("0%o", unix.S_IFDIR|uint32(fi.Mode().Perm()))
	o, err := exec.Command("debugfs", "-w", "-R", "sif / mode "+mode, out).CombinedOutput()
	if err != nil || strings.Contains(string(o), "rror") {
		return errors.Join(fmt.Errorf("debugfs: set the root's mode to %s: %s", mode, o), err)
	}
	return nil
}

// DistroInitramfs builds into dir an initramfs like Build's (the same
// binary and socket tool, no images) whose modules also drive a virtio
// disk holding ext4, for rdinit=DistroRdinit.
func DistroInitramfs(dir string, a *Artifacts) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	script, err := os.ReadFile(filepath.Join(root, "testdata/vm/mkinitramfs.sh"))
	if err != nil {
		return "", err
	}
	// The script's own default list, so this initramfs has all it has.
	m := regexp.MustCompile(`MODULES=\$\{MODULES:-"([^"]*)"\}`).FindSubmatch(script)
	if m == nil {
		return "", errors.New("mkinitramfs.sh: no default MODULES=${MODULES:-\"...\"} line to extend")
	}
	out := filepath.Join(dir, "initramfs-distro.cpio.zst")
	cmd := exec.Command("sh", "testdata/vm/mkinitramfs.sh", "-o", out,
		"-s", a.Sockcat, "-t", a.Ptyrun, "-k", Kernel(), "-m", "testdata/vm/modprobe-test.conf", "-b", a.Binary)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "MODULES="+string(m[1])+" "+distroModules)
	if o, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("mkinitramfs.sh with MODULES+=%s: %w\n%s", distroModules, err, o)
	}
	return out, nil
}
