package cgroupfs

import (
	"bufio"
	"io"
	"strings"
)

// Mount is one line of /proc/self/mountinfo, reduced to what cgroupfs needs.
type Mount struct {
	Point  string // mount point, unescaped
	FSType string
}

// ParseMountinfo reads the /proc/PID/mountinfo format.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// Fields: id parent major:minor root point options [optional...] - fstype source superopts
		f := strings.Fields(sc.Text())
		sep := -1
		for i, w := range f {
			if w == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) {
			continue
		}
		mounts = append(mounts, Mount{Point: unescape(f[4]), FSType: f[sep+1]})
	}
	return mounts, sc.Err()
}

// unescape undoes the kernel's octal escaping (\040 for space, etc.).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}
