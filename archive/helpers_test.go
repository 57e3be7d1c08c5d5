package archive

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// extractFile runs Extract on a file and fails the test on error.
func extractFile(t testing.TB, image, dst string) Result {
	t.Helper()
	res, err := extractPath(image, dst)
	if err != nil {
		t.Fatalf("Extract %s: %v", image, err)
	}
	return res
}

func extractPath(image, dst string) (Result, error) {
	f, err := os.Open(image)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	return Extract(context.Background(), f, dst, nil)
}

// describe lists every file below root with all the metadata extraction
// must restore: type, mode, owner, size, mtime, device, link target,
// content hash, xattrs, and which names share an inode.
func describe(t testing.TB, root string) string {
	t.Helper()
	var lines []string
	inodes := map[uint64]string{}
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s mode=%o uid=%d gid=%d", rel, st.Mode, st.Uid, st.Gid)
		line += fmt.Sprintf(" mtime=%d.%09d", st.Mtim.Sec, st.Mtim.Nsec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" size=%d sum=%x", st.Size, hash(data))
			if st.Nlink > 1 {
				if first, ok := inodes[st.Ino]; ok {
					line += " link=" + first
				} else {
					inodes[st.Ino] = rel
				}
			}
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case unix.S_IFCHR, unix.S_IFBLK:
			line += fmt.Sprintf(" dev=%d,%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		line += xattrsOf(t, p)
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func hash(b []byte) uint64 {
	var h uint64 = 14695981039346656037
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

func xattrsOf(t testing.TB, p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	var sb strings.Builder
	for _, name := range names {
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			t.Fatalf("lgetxattr %s %s: %v", p, name, err)
		}
		fmt.Fprintf(&sb, " %s=%x", name, v[:m])
	}
	return sb.String()
}

func diffLines(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	in := map[string]int{}
	for _, l := range lb {
		in[l]++
	}
	var out bytes.Buffer
	for _, l := range la {
		if in[l] > 0 {
			in[l]--
			continue
		}
		fmt.Fprintf(&out, "- %s\n", l)
	}
	for l, n := range in {
		for ; n > 0; n-- {
			fmt.Fprintf(&out, "+ %s\n", l)
		}
	}
	return out.String()
}

// sparseOK fails unless path occupies less disk than its size.
func sparseOK(t testing.TB, path string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 >= st.Size {
		t.Errorf("%s is not sparse: %d blocks of 512 for %d bytes", path, st.Blocks, st.Size)
	}
}
