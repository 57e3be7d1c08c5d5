package store

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// xfsRoot mounts a small XFS (reflink on, the mkfs.xfs default) on a loop
// device and returns its mount point.
func xfsRoot(t *testing.T) string {
	d := t.TempDir()
	img := filepath.Join(d, "xfs.img")
	run(t, "truncate", "-s", "512M", img)
	run(t, "mkfs.xfs", "-q", "-m", "reflink=1", img)
	dev := strings.TrimSpace(run(t, "losetup", "--find", "--show", img))
	mnt := filepath.Join(d, "mnt")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
		exec.Command("losetup", "-d", dev).Run()
		t.Fatalf("mount: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("umount", "-l", mnt).Run()
		exec.Command("losetup", "-d", dev).Run()
	})
	return mnt
}

func freeBytes(t *testing.T, p string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bfree) * st.Bsize
}

// TestCloneReflink: on a file system with reflinks, a clone shares its
// source's data blocks instead of copying them, and stays independent.
func TestCloneReflink(t *testing.T) {
	s, err := Open(filepath.Join(xfsRoot(t), "state"))
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("0123456789abcdef", 4<<20) // 64 MiB
	must(t, os.WriteFile(s.ImagePath("big.tar"), makeTar(t, file("data", big), file("etc/hostname", "x\n")), 0o600))
	ctx := context.Background()
	must(t, s.New(ctx, "src", "big.tar", nil))
	os.Remove(s.ImagePath("big.tar"))
	unix.Sync()
	before := freeBytes(t, s.Root())
	must(t, s.Clone(ctx, "src", "dst", nil))
	unix.Sync()
	if used := before - freeBytes(t, s.Root()); used > 8<<20 {
		t.Errorf("a clone of 64 MiB used %d MiB: the data was copied, not shared", used>>20)
	}
	writeFile(t, filepath.Join(s.RootfsPath("dst"), "data"), "changed")
	if got := readFile(t, filepath.Join(s.RootfsPath("src"), "data")); got != big {
		t.Errorf("writing the clone changed its source")
	}
}
