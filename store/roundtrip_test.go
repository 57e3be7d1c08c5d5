package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// longPath is a 300+ character relative path (each component under 255).
var longPath = strings.Repeat("d", 100) + "/" + strings.Repeat("e", 100) + "/" + strings.Repeat("f", 100) + "/long-file"

// makeRichTree builds a tree holding every kind of entry and metadata SPEC
// §5 requires extraction to restore.
// richSource makes a temporary folder holding src/, a tree made by
// makeRichTree, and returns both paths.
func richSource(t testing.TB) (dir, src string) {
	dir = t.TempDir()
	src = filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	makeRichTree(t, src)
	return dir, src
}

func makeRichTree(t testing.TB, dir string) {
	t.Helper()
	script := `set -e
cd "$1"
mkdir -p bin etc/sub sticky setgid private "` + filepath.Dir(longPath) + `" acl-dir
printf 'hello\n' > etc/hostname
head -c 300000 /dev/urandom > bin/big
printf '#!/bin/sh\necho hi\n' > bin/suid && chown 0:0 bin/suid && chmod 4755 bin/suid
printf 'x' > bin/sgid && chown 0:42 bin/sgid && chmod 2711 bin/sgid
printf 'owned' > etc/owned && chown 1000:1001 etc/owned && chmod 0640 etc/owned
: > etc/empty
printf 'link me' > etc/linked && ln etc/linked bin/hardlink
ln -s ../etc/hostname bin/rel-link
ln -s /etc/hostname bin/abs-link
ln -s does/not/exist bin/dangling
ln -s etc/owned owned-link && chown -h 123:456 owned-link
ln -s "` + strings.Repeat("t", 150) + `" long-target
mknod null c 1 3 && chmod 0666 null
mknod loop b 7 0 && chmod 0660 null && chown 0:6 loop
mkfifo fifo && chmod 0620 fifo
chmod 1777 sticky && chmod 2775 setgid && chmod 0700 private && chown 1000:1000 private
printf 'long' > "` + longPath + `"
ln "` + longPath + `" long-hardlink
setfattr -n user.comment -v 'a value' etc/hostname
setfattr -n user.dir -v 'on a dir' etc/sub
setfattr -n trusted.overlay.opaque -v y etc/sub
setfattr -h -n trusted.sym -v 'on a symlink' bin/rel-link
setcap 'cap_net_raw,cap_net_admin+ep' bin/big
setfacl -m u:4242:r-x,g:4343:rw- etc/owned
setfacl -d -m u:4242:rwx acl-dir
setfacl -m u:4242:rwx acl-dir
truncate -s 10M sparse
printf 'data in the middle' | dd of=sparse bs=1 seek=3145728 conv=notrunc status=none
printf 'more' | dd of=sparse bs=1 seek=7340032 conv=notrunc status=none
printf 'utf-8' > 'ünïcødé ☃'
touch -h -d '2001-02-03 04:05:06.123456789' bin/rel-link owned-link etc/hostname
touch -d '1999-12-31 23:59:59.5' bin/big
find . -depth -type d -exec touch -d '2010-10-10 10:10:10.101010101' {} +
`
	run(t, "sh", "-c", script, "sh", dir)
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

func sameTree(t testing.TB, want, got string) {
	t.Helper()
	w, g := describe(t, want), describe(t, got)
	if w != g {
		t.Fatalf("trees differ (- %s, + %s):\n%s", want, got, diffLines(w, g))
	}
}

func checkCapsAndACLs(t testing.TB, root string) {
	t.Helper()
	if out := run(t, "getcap", filepath.Join(root, "bin/big")); !strings.Contains(out, "cap_net_admin,cap_net_raw=ep") {
		t.Errorf("getcap bin/big: %q", out)
	}
	out := run(t, "getfacl", "-n", "-p", filepath.Join(root, "etc/owned"))
	for _, want := range []string{"user:4242:r-x", "group:4343:rw-", "# owner: 1000", "# group: 1001"} {
		if !strings.Contains(out, want) {
			t.Errorf("getfacl etc/owned lacks %q:\n%s", want, out)
		}
	}
	out = run(t, "getfacl", "-n", "-p", filepath.Join(root, "acl-dir"))
	if !strings.Contains(out, "default:user:4242:rwx") || !strings.Contains(out, "\nuser:4242:rwx") {
		t.Errorf("getfacl acl-dir:\n%s", out)
	}
}

// TestGNUTarToInitns: images written by GNU tar restore with initns with
// the same metadata, in every compression.
func TestGNUTarToInitns(t *testing.T) {
	d, src := richSource(t)
	for _, suffix := range []string{".tar", ".tar.gz", ".tar.zst", ".tar.xz"} {
		t.Run(suffix, func(t *testing.T) {
			img := filepath.Join(d, "gnu"+suffix)
			gnuCreate(t, src, img, "--sparse")
			out := filepath.Join(d, "out"+suffix)
			res := extractFile(t, img, out)
			if res.Root != out {
				t.Fatalf("root %s, want %s (no unwrapping)", res.Root, out)
			}
			sameTree(t, src, out)
			sparseOK(t, filepath.Join(out, "sparse"))
			checkCapsAndACLs(t, out)
		})
	}
}

// TestInitnsToGNUTar: images written by Seed restore with GNU tar (and with
// initns) with the same metadata, in every format Seed writes.
func TestInitnsToGNUTar(t *testing.T) {
	d, src := richSource(t)
	s, err := Open(filepath.Join(d, "state"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"x.tar", "x.tar.gz", "x.tgz", "x.tar.zst"} {
		t.Run(name, func(t *testing.T) {
			if err := s.Seed(context.Background(), src, name, nil); err != nil {
				t.Fatal(err)
			}
			img := s.ImagePath(name)
			gnu := filepath.Join(d, "gnu-"+name)
			gnuExtract(t, img, gnu)
			sameTree(t, src, gnu)
			sparseOK(t, filepath.Join(gnu, "sparse"))
			checkCapsAndACLs(t, gnu)
			mine := filepath.Join(d, "initns-"+name)
			extractFile(t, img, mine)
			sameTree(t, src, mine)
			sparseOK(t, filepath.Join(mine, "sparse"))
		})
	}
}
