package pid1

import (
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// mountedAt returns the topmost mount at point, if any: the last one in
// mountinfo's order, which lists a mount after the one it covers.
func mountedAt(mounts []*mountinfo.Info, point string) (*mountinfo.Info, bool) {
	for i := len(mounts) - 1; i >= 0; i-- {
		if mounts[i].Mountpoint == point {
			return mounts[i], true
		}
	}
	return nil, false
}

// hasFSType reports whether any mount is of the given file system type.
func hasFSType(mounts []*mountinfo.Info, fstype string) bool {
	return slices.ContainsFunc(mounts, func(m *mountinfo.Info) bool { return m.FSType == fstype })
}

// readOnly reports whether a mount's per-mount options say "ro".
func readOnly(m *mountinfo.Info) bool {
	return slices.Contains(strings.Split(m.Options, ","), "ro")
}
