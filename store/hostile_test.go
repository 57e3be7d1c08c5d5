package store

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// sandbox is a state root next to an "outside" tree that no image may
// touch.
type sandbox struct {
	t       *testing.T
	dir     string
	outside string
	s       *Store
	before  string
}

func newSandbox(t *testing.T) *sandbox {
	d := t.TempDir()
	sb := &sandbox{t: t, dir: d, outside: filepath.Join(d, "outside")}
	run(t, "sh", "-c", `mkdir -p "$1/sub" && echo original > "$1/victim" && echo original > "$1/sub/victim" && chmod 0755 "$1"`, "sh", sb.outside)
	s, err := Open(filepath.Join(d, "state"))
	if err != nil {
		t.Fatal(err)
	}
	sb.s = s
	sb.before = describe(t, sb.outside)
	return sb
}

// newFrom writes image bytes into images/ and runs New on it.
func (sb *sandbox) newFrom(image string, data []byte) error {
	if err := os.WriteFile(sb.s.ImagePath(image), data, 0o600); err != nil {
		sb.t.Fatal(err)
	}
	return sb.s.New(context.Background(), "box", image, nil)
}

// untouched asserts nothing outside changed and no instance or temporary
// file was left behind.
func (sb *sandbox) untouched() {
	t := sb.t
	t.Helper()
	if after := describe(t, sb.outside); after != sb.before {
		t.Errorf("outside tree changed:\n%s", diffLines(sb.before, after))
	}
	for _, d := range []string{rootfsDir, scratchDir} {
		if ents, _ := os.ReadDir(sb.s.path(d)); len(ents) != 0 {
			t.Errorf("%s/ not empty: %v", d, ents)
		}
	}
	if ins, _ := sb.s.Instances(); len(ins) != 0 {
		t.Errorf("instances registered: %v", ins)
	}
	if data, _ := os.ReadFile(sb.s.path(registryF)); len(data) != 0 {
		t.Errorf("registry: %q", data)
	}
	var st unix.Stat_t
	unix.Stat(sb.s.path(rootfsDir), &st)
	if st.Mode&0o7777 != 0o700 || st.Uid != 0 {
		t.Errorf("rootfs/ mode %o owner %d", st.Mode&0o7777, st.Uid)
	}
}

// TestHostileImages is the breakout corpus (shaped like containerd's
// TestBreakouts): each image is refused with ErrBadImage and an error that
// names the problem, and nothing outside the new root changes.
func TestHostileImages(t *testing.T) {
	good := makeTar(t, dir("etc/"), file("etc/a", strings.Repeat("x", 100000)), file("etc/b", "b"))
	badSum := makeTar(t, file("a", "a"), file("b", "b"))
	badSum[1024+148] ^= 1 // checksum of the second member's header
	cases := []struct {
		name    string
		image   func(outside string) []byte
		wantMsg string
	}{
		{"dotdot", func(string) []byte { return makeTar(t, file("../outside/victim", "pwned")) }, `".."`},
		{"dotdot-inner", func(string) []byte { return makeTar(t, dir("a/"), file("a/../../outside/victim", "pwned")) }, `".."`},
		{"symlink-named-dotdot", func(string) []byte { return makeTar(t, symlink("..", "/"), file("../victim", "x")) }, `".."`},
		{"symlink-named-dotdot-inner", func(string) []byte { return makeTar(t, dir("a/"), symlink("a/..", "/")) }, `".."`},
		{"abs-symlink-then-write", func(o string) []byte {
			return makeTar(t, symlink("evil", o), file("evil/victim", "pwned"))
		}, "evil is a symlink"},
		{"rel-symlink-then-write", func(string) []byte {
			return makeTar(t, symlink("evil", "../../../../../../../../outside"), file("evil/sub/victim", "pwned"))
		}, "evil is a symlink"},
		{"symlink-then-mkdir-beneath", func(o string) []byte {
			return makeTar(t, symlink("evil", o), dir("evil/newdir/"))
		}, "evil is a symlink"},
		{"symlink-chain", func(o string) []byte {
			return makeTar(t, symlink("a", "b"), symlink("b", o), file("a/victim", "pwned"))
		}, "a is a symlink"},
		{"symlink-self", func(string) []byte { return makeTar(t, symlink("s", "s"), file("s/x", "x")) }, "s is a symlink"},
		{"symlink-loop-implicit-dirs", func(string) []byte {
			return makeTar(t, symlink("a", "b"), symlink("b", "a"), file("a/b/c/d", "x"))
		}, "a is a symlink"},
		{"hardlink-dotdot", func(string) []byte { return makeTar(t, hardlink("l", "../outside/victim")) }, `".."`},
		{"pax-path-dotdot", func(string) []byte { // a name over 100 bytes travels in a PAX path record
			return makeTar(t, file(strings.Repeat("p", 120)+"/../../outside/victim", "pwned"))
		}, `".."`},
		{"pax-linkpath-dotdot", func(string) []byte {
			return makeTar(t, hardlink("l", strings.Repeat("p", 120)+"/../../outside/victim"))
		}, `".."`},
		{"hardlink-absolute", func(o string) []byte { return makeTar(t, hardlink("l", o+"/victim")) }, "no earlier entry"},
		{"hardlink-through-symlink", func(o string) []byte {
			return makeTar(t, symlink("evil", o), hardlink("l", "evil/victim"))
		}, "evil is a symlink"},
		{"hardlink-carries-data", func(string) []byte {
			return makeTar(t, file("target", "t"), entry{Raw: append(rawHeader("l", tar.TypeLink, 5, "target"), make([]byte, 512)...)})
		}, "carries 5 bytes"},
		{"hardlink-to-directory", func(string) []byte { return makeTar(t, dir("d/"), hardlink("l", "d")) }, "hard link to directory"},
		{"hardlink-to-missing", func(string) []byte { return makeTar(t, hardlink("l", "nothing")) }, "no earlier entry"},
		{"dir-replaced-by-symlink", func(o string) []byte {
			return makeTar(t, dir("d/"), symlink("d", o), file("d/victim", "pwned"))
		}, "replace directory d"},
		{"symlink-replaced-by-dir", func(o string) []byte {
			return makeTar(t, symlink("d", o), dir("d/"), file("d/victim", "pwned"))
		}, "replace symlink d"},
		{"dir-replaced-by-file", func(string) []byte { return makeTar(t, dir("d/"), file("d", "x")) }, "replace directory d"},
		{"dot-is-a-symlink", func(o string) []byte { return makeTar(t, symlink("./", o)) }, "root of the image must be a directory"},
		{"dot-is-a-file", func(string) []byte { return makeTar(t, file(".", "x")) }, "root of the image must be a directory"},
		{"unknown-type", func(string) []byte {
			return makeTar(t, entry{Raw: rawHeader("weird", 'Z', 0, "")})
		}, "unknown entry type"},
		{"too-long-name", func(string) []byte {
			return makeTar(t, file(strings.Repeat("a/", 2100)+"x", "x"))
		}, "over the limit"},
		{"component-too-long", func(string) []byte { return makeTar(t, file(strings.Repeat("n", 300), "x")) }, "over the limit of 255"},
		{"truncated-tar", func(string) []byte { return good[:len(good)/2] }, "truncated"},
		{"truncated-gzip", func(string) []byte { g := gzipBytes(good); return g[:len(g)/2] }, "truncated"},
		{"truncated-zstd", func(string) []byte { z := zstdBytes(good); return z[:len(z)/2] }, "truncated"},
		{"corrupt-gzip", func(string) []byte { g := gzipBytes(good); g[len(g)/2] ^= 0xff; return g }, "corrupt"},
		{"bad-checksum-first", func(string) []byte { b := makeTar(t, file("a", "a")); b[148] ^= 1; return b }, "not a tar archive"},
		{"bad-checksum-later", func(string) []byte { return badSum }, "corrupt"},
		{"empty-file", func(string) []byte { return nil }, "empty"},
		{"zero-blocks-only", func(string) []byte { return make([]byte, 10240) }, "not a tar archive"},
		{"non-tar", func(string) []byte { return []byte(strings.Repeat("this is not a tar file\n", 100)) }, "not a tar archive"},
		{"bzip2", func(string) []byte { return []byte("BZh91AY&SY") }, "bzip2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sb := newSandbox(t)
			err := sb.newFrom(c.name+".img", c.image(sb.outside))
			if !errors.Is(err, ErrBadImage) {
				t.Fatalf("New: %v, want ErrBadImage", err)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("error %q does not say %q", err, c.wantMsg)
			}
			sb.untouched()
		})
	}
}

// TestDotEntryStaysInside: the "." entry's mode and owner apply to the new
// root filesystem itself, never to rootfs/ or anything above it.
func TestDotEntryStaysInside(t *testing.T) {
	sb := newSandbox(t)
	root := entry{Name: "./", Typ: tar.TypeDir, Mode: 0o4777, UID: 1000}
	if err := sb.newFrom("dot.tar", makeTar(t, root, file("etc/x", "x"))); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Stat(sb.s.RootfsPath("box"), &st)
	if st.Mode&0o7777 != 0o4777 || st.Uid != 1000 {
		t.Errorf("new root: mode %o uid %d, want 4777 1000", st.Mode&0o7777, st.Uid)
	}
	for _, p := range []string{sb.s.path(rootfsDir), sb.s.path(scratchDir)} {
		unix.Stat(p, &st)
		if st.Mode&0o7777 != 0o700 || st.Uid != 0 {
			t.Errorf("%s: mode %o uid %d, want 0700 root", p, st.Mode&0o7777, st.Uid)
		}
	}
	unix.Stat(sb.s.Root(), &st)
	if st.Mode&0o7777 != rootMode || st.Uid != 0 {
		t.Errorf("state root: mode %o uid %d", st.Mode&0o7777, st.Uid)
	}
}

// TestAbsoluteNamesLandInside: leading "/" is dropped (SPEC §5), so an
// absolute name pointing at the outside tree is created inside the root.
func TestAbsoluteNamesLandInside(t *testing.T) {
	sb := newSandbox(t)
	if err := sb.newFrom("abs.tar", makeTar(t, file(sb.outside+"/victim", "inside"))); err != nil {
		t.Fatal(err)
	}
	if after := describe(t, sb.outside); after != sb.before {
		t.Errorf("outside changed:\n%s", diffLines(sb.before, after))
	}
	data, err := os.ReadFile(filepath.Join(sb.s.RootfsPath("box"), sb.outside, "victim"))
	if err != nil || string(data) != "inside" {
		t.Errorf("file not inside the root: %q %v", data, err)
	}
}

// TestDiskFull: an image larger than a small tmpfs state root fails with
// the kernel's reason, leaves nothing half made, and keeps earlier
// instances intact.
func TestDiskFull(t *testing.T) {
	d := t.TempDir()
	root := filepath.Join(d, "state")
	os.Mkdir(root, 0o755)
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "size=2m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	small := makeTar(t, file("etc/hostname", "small"))
	os.WriteFile(s.ImagePath("small.tar"), small, 0o600)
	if err := s.New(context.Background(), "keep", "small.tar", nil); err != nil {
		t.Fatal(err)
	}
	big := gzipBytes(makeTar(t, file("big1", strings.Repeat("z", 1<<20)), file("big2", strings.Repeat("y", 1<<20)),
		file("big3", strings.Repeat("w", 1<<20))))
	os.WriteFile(s.ImagePath("big.tar.gz"), big, 0o600)
	err = s.New(context.Background(), "box", "big.tar.gz", nil)
	if !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), "big") {
		t.Fatalf("New on a full disk: %v, want ENOSPC naming the entry", err)
	}
	if errors.Is(err, ErrBadImage) {
		t.Errorf("New on a full disk: %v is ErrBadImage; the image is fine", err)
	}
	if ents, _ := os.ReadDir(s.path(scratchDir)); len(ents) != 0 {
		t.Errorf("scratch not empty: %v", ents)
	}
	if ins, _ := s.Instances(); len(ins) != 1 || ins[0].Name != "keep" {
		t.Errorf("instances: %v", ins)
	}
	if data, err := os.ReadFile(filepath.Join(s.RootfsPath("keep"), "etc/hostname")); string(data) != "small" {
		t.Errorf("earlier instance damaged: %q %v", data, err)
	}
	// And a commit that does not fit fails the same way, leaving no image.
	if err := s.Commit(context.Background(), "keep", "keep.tar", nil); err != nil {
		t.Fatalf("small commit: %v", err)
	}
	os.WriteFile(filepath.Join(s.RootfsPath("keep"), "filler"), bytes.Repeat([]byte{1}, 1500<<10), 0o644)
	err = s.Commit(context.Background(), "keep", "keep2.tar", nil)
	if !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("Commit on a full disk: %v, want ENOSPC", err)
	}
	if _, err := os.Stat(s.ImagePath("keep2.tar")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("half image left: %v", err)
	}
	if ents, _ := os.ReadDir(s.path(scratchDir)); len(ents) != 0 {
		t.Errorf("scratch not empty: %v", ents)
	}
}
