package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// longPath is a 300+ character relative path (each component under 255).
var longPath = strings.Repeat("d", 100) + "/" + strings.Repeat("e", 100) + "/" + strings.Repeat("f", 100) + "/long-file"

// TestGNUTarFormats: long names, long link targets, hard links and sparse
// files restore from every archive format and sparse encoding GNU tar
// writes.
func TestGNUTarFormats(t *testing.T) {
	d := t.TempDir()
	src := filepath.Join(d, "src")
	script := `set -e; mkdir -p "$1/` + filepath.Dir(longPath) + `"; cd "$1"
printf 'long' > "` + longPath + `"
ln "` + longPath + `" hard
ln -s "` + strings.Repeat("t", 200) + `" long-target
truncate -s 5M sparse; printf 'x' | dd of=sparse bs=1 seek=2097152 conv=notrunc status=none
mknod null c 1 3; mkfifo fifo; chown 7:8 hard; chmod 4711 hard
find . -depth -exec touch -h -d '2020-02-02 02:02:02' {} +`
	os.Mkdir(src, 0o755)
	run(t, "sh", "-c", script, "sh", src)
	want := describe(t, src)
	for _, format := range [][]string{
		{"--format=gnu"}, {"--format=oldgnu"},
		{"--format=posix", "--sparse-version=0.0"}, {"--format=posix", "--sparse-version=0.1"},
		{"--format=posix", "--sparse-version=1.0"},
	} {
		name := strings.Join(format, "")
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(d, name+".tar")
			args := append([]string{"--numeric-owner", "--sparse", "-C", src}, format...)
			run(t, "tar", append(args, "-cf", img, ".")...)
			out := filepath.Join(d, "out"+name)
			extractFile(t, img, out)
			if got := describe(t, out); got != want {
				t.Fatalf("differs:\n%s", diffLines(want, got))
			}
			sparseOK(t, filepath.Join(out, "sparse"))
		})
	}
}

// TestHardlinkToSymlink: a hard link to a symlink links the symlink itself,
// never what it points to.
func TestHardlinkToSymlink(t *testing.T) {
	d := t.TempDir()
	img := filepath.Join(d, "x.tar")
	os.WriteFile(img, makeTar(t, file("target", "t"), symlink("s", "target"), hardlink("h", "s")), 0o644)
	out := filepath.Join(d, "out")
	extractFile(t, img, out)
	var s, h unix.Stat_t
	unix.Lstat(filepath.Join(out, "s"), &s)
	unix.Lstat(filepath.Join(out, "h"), &h)
	if h.Mode&unix.S_IFMT != unix.S_IFLNK || h.Ino != s.Ino || h.Nlink != 2 {
		t.Errorf("h: mode %o ino %d (s %d) nlink %d, want the symlink's inode", h.Mode, h.Ino, s.Ino, h.Nlink)
	}
}

// TestBounds: oversized headers and deep paths are refused before they
// cost memory.
func TestBounds(t *testing.T) {
	bigPAX := func() []byte {
		recs := paxRecord("comment", strings.Repeat("c", 2<<20))
		b, _ := ustarHeader{name: "PaxHeaders/x", typeflag: 'x', mode: 0o644, size: int64(len(recs))}.block()
		return append(append(b[:], padBlock([]byte(recs))...), makeTar(t, file("x", "x"))...)
	}
	hugeSparse := func() []byte {
		hdr, _ := sparseHeaders("s", 0o644, 0, 0, unixEpoch, 1<<40, 512, nil)
		smap := []byte("99999999999\n")
		return append(append(hdr, padBlock(smap)...), make([]byte, 1024)...)
	}
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"pax-header-over-1MiB": {bigPAX(), "1 MiB limit on an entry's extended header"},
		"sparse-map-too-large": {hugeSparse(), "truncated"},
		"sparse-file-too-large": {func() []byte {
			hdr, _ := sparseHeaders("s", 0o644, 0, 0, unixEpoch, 300<<30, 512+4, nil)
			b := append(hdr, padBlock([]byte("1\n0\n4\n"))...)
			return append(append(b, padBlock([]byte("data"))...), make([]byte, 1024)...)
		}(), "8.0 GiB limit on the apparent size of sparse files"},
		"too-deep": {makeTar(t, file(strings.Repeat("a/", 1100)+"x", "x")), "levels deep"},
		"xattr-too-large": {func() []byte {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			tw.WriteHeader(&tar.Header{Name: "x", Mode: 0o644, Format: tar.FormatPAX,
				PAXRecords: map[string]string{"SCHILY.xattr.user.big": strings.Repeat("v", 70000)}})
			tw.Close()
			return buf.Bytes()
		}(), "size limit"},
	} {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			_, err := Extract(context.Background(), bytes.NewReader(c.data), filepath.Join(d, "out"), nil)
			if !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Extract: %v, want ErrBadImage saying %q", err, c.want)
			}
			if ents, _ := os.ReadDir(d); len(ents) != 0 {
				t.Errorf("left %v", ents)
			}
		})
	}
}

// TestACLText: GNU tar's text ACL records alone (no binary xattr) restore
// as kernel ACLs, with user and group names looked up on the host.
func TestACLText(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatPAX,
		PAXRecords: map[string]string{paxACLDefault: "user::rwx\nuser:root:r-x\ngroup::r-x\nmask::r-x\nother::---\n"}})
	tw.WriteHeader(&tar.Header{Name: "d/f", Mode: 0o640, Format: tar.FormatPAX,
		PAXRecords: map[string]string{paxACLAccess: "user::rw-,user:4242:rw-,group::r--,group:daemon:r--,mask::rw-,other::---"}})
	tw.Close()
	d := t.TempDir()
	out := filepath.Join(d, "out")
	if _, err := Extract(context.Background(), &buf, out, nil); err != nil {
		t.Fatal(err)
	}
	got := run(t, "getfacl", "-n", "-p", filepath.Join(out, "d/f"))
	for _, want := range []string{"user:4242:rw-", "group:1:r--", "mask::rw-", "other::---"} {
		if !strings.Contains(got, want) {
			t.Errorf("getfacl d/f lacks %q:\n%s", want, got)
		}
	}
	got = run(t, "getfacl", "-n", "-p", filepath.Join(out, "d"))
	if !strings.Contains(got, "default:user:0:r-x") || !strings.Contains(got, "default:other::---") {
		t.Errorf("getfacl d:\n%s", got)
	}
}

var unixEpoch = time.Unix(0, 0)

// TestXzDictionaryLimit: an xz stream asking for a dictionary beyond
// xzMaxDict is refused before the decoder allocates it.
func TestXzDictionaryLimit(t *testing.T) {
	d := t.TempDir()
	img := filepath.Join(d, "x.tar")
	os.WriteFile(img, makeTar(t, file("etc/hostname", "xz")), 0o644)
	run(t, "xz", "--lzma2=dict=1MiB", img)
	data, err := os.ReadFile(img + ".xz")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Extract(context.Background(), bytes.NewReader(data), filepath.Join(d, "ok"), nil); err != nil {
		t.Fatalf("xz with a 1 MiB dictionary: %v", err)
	}
	setXzDict(t, data, 12, 35) // 3 << 28 bytes: 768 MiB
	_, err = Extract(context.Background(), bytes.NewReader(data), filepath.Join(d, "big"), nil)
	if !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), "dictionary of 768 MiB") {
		t.Fatalf("xz with a 768 MiB dictionary: %v", err)
	}
}
