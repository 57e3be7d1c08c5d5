package cgroupfs

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/moby/sys/mountinfo"

	"golang.org/x/sys/unix"
)

// DefaultMount is where cgroup2 lives on a unified host, and where the
// daemon mounts it at boot when nothing is there.
const DefaultMount = "/sys/fs/cgroup"

// ErrNoCgroup2 means no cgroup2 hierarchy is mounted.
var ErrNoCgroup2 = errors.New("no cgroup2 file system is mounted (mount -t cgroup2 none /sys/fs/cgroup, or boot a kernel with cgroup2)")

// FindMount returns the cgroup2 mount point: /sys/fs/cgroup if it is
// cgroup2, else the first cgroup2 mount in /proc/self/mountinfo (hybrid hosts
// put it at /sys/fs/cgroup/unified).
func FindMount() (string, error) {
	if isCgroup2(DefaultMount) {
		return DefaultMount, nil
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("find cgroup2: %w", err)
	}
	defer f.Close()
	return cgroup2Mount(f)
}

// cgroup2Mount returns the first cgroup2 mount point of a mountinfo table.
func cgroup2Mount(r io.Reader) (string, error) {
	mounts, err := mountinfo.GetMountsFromReader(r, mountinfo.FSTypeFilter("cgroup2"))
	if err != nil {
		return "", fmt.Errorf("find cgroup2: read mountinfo: %w", err)
	}
	if len(mounts) == 0 {
		return "", ErrNoCgroup2
	}
	return mounts[0].Mountpoint, nil
}

// MountDefault mounts cgroup2 at /sys/fs/cgroup, for PID 1 at boot.
func MountDefault() (string, error) {
	if err := os.MkdirAll(DefaultMount, 0o755); err != nil {
		return "", fmt.Errorf("mount cgroup2: %w", err)
	}
	if err := unix.Mount("cgroup2", DefaultMount, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return "", fmt.Errorf("mount cgroup2 at %s: %w", DefaultMount, err)
	}
	return DefaultMount, nil
}

func isCgroup2(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}
