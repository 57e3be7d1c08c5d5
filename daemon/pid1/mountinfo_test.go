package pid1

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
)

// parseMountinfo is the parser readMounts uses, on a string.
func parseMountinfo(s string) ([]*mountinfo.Info, error) {
	return mountinfo.GetMountsFromReader(strings.NewReader(s), nil)
}

const sampleMountinfo = `22 1 0:21 / / ro,relatime shared:1 - ext4 /dev/vda1 ro
23 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw
24 22 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:3 - sysfs sysfs rw
25 24 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
26 22 0:25 /dir /mnt/with\040space rw master:4 propagation:x - tmpfs my\134src rw
`

func TestParseMountinfo(t *testing.T) {
	ms, err := parseMountinfo(sampleMountinfo)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 5 {
		t.Fatalf("got %d mounts, want 5", len(ms))
	}
	want := mountinfo.Info{ID: 26, Parent: 22, Minor: 25, Root: "/dir", Mountpoint: "/mnt/with space",
		Options: "rw", Optional: "master:4 propagation:x", FSType: "tmpfs", Source: `my\src`, VFSOptions: "rw"}
	if !reflect.DeepEqual(*ms[4], want) {
		t.Errorf("got %+v, want %+v (optional fields apart, octal unescaped)", *ms[4], want)
	}
	if !readOnly(ms[0]) || readOnly(ms[1]) {
		t.Error("ReadOnly wrong for / (ro) or /proc (rw)")
	}
}

// TestParseMountinfoMalformed: a damaged table is an error, not a plan
// made from half of it. (A non-numeric mount ID, once refused, is read as
// 0 by moby's parser; nothing here uses the IDs.)
func TestParseMountinfoMalformed(t *testing.T) {
	for _, bad := range []string{"1 2 3\n", "1 1 0:1 / / rw no-separator here x\n", "1 1 01 / / rw - ext4 a b\n"} {
		if _, err := parseMountinfo(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestParseMountinfoHost parses this machine's own table, which has every
// kind of line the kernel writes.
func TestParseMountinfoHost(t *testing.T) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms, err := mountinfo.GetMountsFromReader(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mountedAt(ms, "/"); !ok || !hasFSType(ms, "proc") {
		t.Errorf("host mountinfo: no / or no proc in %d mounts", len(ms))
	}
}

func TestPlanMountsAtBoot(t *testing.T) {
	// An initramfs boot: the kernel mounted only rootfs, and /proc was just
	// mounted to read this.
	ms, _ := parseMountinfo("1 1 0:2 / / rw - rootfs rootfs rw\n2 1 0:20 / /proc rw - proc proc rw\n")
	var got []string
	for _, m := range planMounts(ms) {
		got = append(got, m.Target+" "+m.FSType)
	}
	want := []string{"/sys sysfs", "/dev devtmpfs", "/dev/pts devpts", "/run tmpfs", "/sys/fs/cgroup cgroup2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plan = %q, want %q", got, want)
	}
	if rootReadOnly(ms) {
		t.Error("rootfs is read-write")
	}
}

func TestPlanMountsHybrid(t *testing.T) {
	ms, _ := parseMountinfo(sampleMountinfo)
	var got []string
	for _, m := range planMounts(ms) {
		got = append(got, m.Target)
	}
	// /sys/fs/cgroup holds a v1 tmpfs: cgroup2 goes beside, as on hybrid hosts.
	want := []string{"/dev", "/dev/pts", "/run", "/sys/fs/cgroup/unified"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plan = %q, want %q", got, want)
	}
	if !rootReadOnly(ms) {
		t.Error("/ is read-only in the sample")
	}
	ms = append(ms, &mountinfo.Info{Mountpoint: "/sys/fs/cgroup/unified", FSType: "cgroup2"})
	for _, m := range planMounts(ms) {
		if m.FSType == "cgroup2" {
			t.Error("cgroup2 planned although one is mounted")
		}
	}
}
