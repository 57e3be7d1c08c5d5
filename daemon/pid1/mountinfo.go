package pid1

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	ID, Parent int
	Root       string // the mounted subtree of the file system
	Point      string // where it is mounted
	Options    string // per-mount options, such as "rw,nosuid"
	FSType     string
	Source     string
}

// ReadOnly reports whether the mount's per-mount options say "ro".
func (m Mount) ReadOnly() bool {
	for _, o := range strings.Split(m.Options, ",") {
		if o == "ro" {
			return true
		}
	}
	return false
}

// ParseMountinfo parses the format of /proc/PID/mountinfo
// (Documentation/filesystems/proc.rst): the optional fields end at a lone
// "-", and paths escape space, tab, newline and backslash in octal.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		m, err := parseMountLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		mounts = append(mounts, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mounts, nil
}

func parseMountLine(line string) (Mount, error) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if len(f) < 6 || sep < 0 || sep+2 >= len(f) {
		return Mount{}, fmt.Errorf("malformed: %q", line)
	}
	id, err1 := strconv.Atoi(f[0])
	parent, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return Mount{}, fmt.Errorf("malformed ids: %q", line)
	}
	return Mount{
		ID: id, Parent: parent,
		Root: unescape(f[3]), Point: unescape(f[4]), Options: f[5],
		FSType: f[sep+1], Source: unescape(f[sep+2]),
	}, nil
}

// unescape undoes the kernel's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			v, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '7' {
			return false
		}
	}
	return len(s) == 3
}

// MountedAt returns the topmost mount at point, if any.
func MountedAt(mounts []Mount, point string) (Mount, bool) {
	var top Mount
	found := false
	for _, m := range mounts {
		if m.Point == point {
			top, found = m, true
		}
	}
	return top, found
}

// HasFSType reports whether any mount is of the given file system type.
func HasFSType(mounts []Mount, fstype string) bool {
	for _, m := range mounts {
		if m.FSType == fstype {
			return true
		}
	}
	return false
}
