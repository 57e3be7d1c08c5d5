package pid1

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

const sampleMountinfo = `22 1 0:21 / / ro,relatime shared:1 - ext4 /dev/vda1 ro
23 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw
24 22 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:3 - sysfs sysfs rw
25 24 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
26 22 0:25 /dir /mnt/with\040space rw master:4 propagation:x - tmpfs my\134src rw
`

func TestParseMountinfo(t *testing.T) {
	ms, err := ParseMountinfo(strings.NewReader(sampleMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 5 {
		t.Fatalf("got %d mounts, want 5", len(ms))
	}
	want := Mount{ID: 26, Parent: 22, Root: "/dir", Point: "/mnt/with space",
		Options: "rw", FSType: "tmpfs", Source: `my\src`}
	if !reflect.DeepEqual(ms[4], want) {
		t.Errorf("got %+v, want %+v (optional fields skipped, octal unescaped)", ms[4], want)
	}
	if !ms[0].ReadOnly() || ms[1].ReadOnly() {
		t.Error("ReadOnly wrong for / (ro) or /proc (rw)")
	}
}

func TestParseMountinfoMalformed(t *testing.T) {
	for _, bad := range []string{"1 2 3\n", "x 1 0:1 / / rw - ext4 a b\n", "1 1 0:1 / / rw no-separator\n"} {
		if _, err := ParseMountinfo(strings.NewReader(bad)); err == nil {
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
	ms, err := ParseMountinfo(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := MountedAt(ms, "/"); !ok || !HasFSType(ms, "proc") {
		t.Errorf("host mountinfo: no / or no proc in %d mounts", len(ms))
	}
}

func TestPlanMountsAtBoot(t *testing.T) {
	// An initramfs boot: the kernel mounted only rootfs, and /proc was just
	// mounted to read this.
	ms, _ := ParseMountinfo(strings.NewReader(
		"1 1 0:2 / / rw - rootfs rootfs rw\n2 1 0:20 / /proc rw - proc proc rw\n"))
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
	ms, _ := ParseMountinfo(strings.NewReader(sampleMountinfo))
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
	ms = append(ms, Mount{Point: "/sys/fs/cgroup/unified", FSType: "cgroup2"})
	for _, m := range planMounts(ms) {
		if m.FSType == "cgroup2" {
			t.Error("cgroup2 planned although one is mounted")
		}
	}
}
