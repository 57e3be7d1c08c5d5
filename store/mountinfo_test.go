package store

import (
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
)

func TestMountPoints(t *testing.T) {
	in := "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n" +
		"40 22 0:35 / /var/lib/a\\040b rw - overlay overlay rw,lowerdir=x\n" +
		"41 22 0:36 / /x\\134y rw - tmpfs tmpfs rw\n"
	ms, err := mountinfo.GetMountsFromReader(strings.NewReader(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := mountPoints(ms)
	for _, p := range []string{"/", "/var/lib/a b", `/x\y`} {
		if !m[p] {
			t.Errorf("mount point %q missing from %v", p, m)
		}
	}
	if len(m) != 3 {
		t.Errorf("got %d mount points, want 3: %v", len(m), m)
	}
	if _, err := mountinfo.GetMountsFromReader(strings.NewReader("bad line\n"), nil); err == nil {
		t.Error("a malformed line was accepted")
	}
}
