// Package archivetest holds what the tests of archive, store, daemon and
// vmtest share: test archives made entry by entry, the hostile images of
// issue 12 (bombs.go), and a description of an extracted tree with every
// piece of metadata extraction must restore, to compare two trees. Only
// tests import it.
package archivetest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"golang.org/x/sys/unix"
)

// Entry is one member of a test archive; raw, when set, is written as it
// is instead (for headers archive/tar refuses to write).
type Entry struct {
	Name, Link string
	Typ        byte
	Mode       int64
	UID        int
	Data       string
	Raw        []byte
}

// File, Dir, Symlink and Hardlink are entries of their kind.
func File(name, data string) Entry {
	return Entry{Name: name, Typ: tar.TypeReg, Mode: 0o644, Data: data}
}
func Dir(name string) Entry { return Entry{Name: name, Typ: tar.TypeDir, Mode: 0o755} }
func Symlink(name, to string) Entry {
	return Entry{Name: name, Typ: tar.TypeSymlink, Link: to, Mode: 0o777}
}
func Hardlink(name, to string) Entry {
	return Entry{Name: name, Typ: tar.TypeLink, Link: to, Mode: 0o644}
}

// Tar writes entries as a PAX archive.
func Tar(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if e.Raw != nil {
			tw.Flush()
			buf.Write(e.Raw)
			continue
		}
		hdr := &tar.Header{Name: e.Name, Linkname: e.Link, Typeflag: e.Typ, Mode: e.Mode, Uid: e.UID,
			Size: int64(len(e.Data)), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", e.Name, err)
		}
		tw.Write([]byte(e.Data))
	}
	tw.Close()
	return buf.Bytes()
}

// RawHeader is a ustar header block archive/tar would not write: archive/tar
// writes a plain one, then the type, size and link are set by hand.
func RawHeader(name string, typ byte, size int64, link string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR})
	tw.Flush()
	b := buf.Bytes()[:512]
	b[156] = typ
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[157:257], link)
	var sum int64
	copy(b[148:156], "        ")
	for _, c := range b {
		sum += int64(c)
	}
	copy(b[148:156], []byte(octal7(sum)))
	return b
}

// octal7 is a checksum as ustar writes it.
func octal7(v int64) string {
	s := []byte("0000000\x00")
	for i := 6; i >= 0 && v > 0; i-- {
		s[i] = byte('0' + v%8)
		v /= 8
	}
	return string(s)
}

// Gzip and Zstd compress b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := pgzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func Zstd(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// Describe lists every file below root with all the metadata extraction
// must restore: type, mode, owner, size, mtime, device, link target,
// content hash, xattrs, and which names share an inode.
func Describe(t testing.TB, root string) string {
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
		line += Xattrs(t, p)
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// hash is FNV-1a.
func hash(b []byte) uint64 {
	var h uint64 = 14695981039346656037
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// Xattrs lists p's extended attributes and their values, sorted.
func Xattrs(t testing.TB, p string) string {
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

// DiffLines lists the lines of a missing from b (-) and the extra ones (+).
func DiffLines(a, b string) string {
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
