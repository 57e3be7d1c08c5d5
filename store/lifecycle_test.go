package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyTreeFaithful: copyTree keeps every kind of entry and metadata
// (owners, modes, times, xattrs, capabilities, ACLs, hard links, devices,
// FIFOs, long names, sparse files).
func TestCopyTreeFaithful(t *testing.T) {
	d, src := richSource(t)
	dst := filepath.Join(d, "dst")
	if err := copyTree(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, dst)
	checkCapsAndACLs(t, dst)
	sparseOK(t, filepath.Join(dst, "sparse"))
}

func writeFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(data)
}

// plainAndOverlay returns a store holding "plain", a plain instance, and
// "ov", an overlay one, both of base.tar.
func plainAndOverlay(t *testing.T) (*Store, context.Context) {
	s := newOverlayStore(t)
	ctx := context.Background()
	if err := s.New(ctx, "plain", "base.tar", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.NewOverlay(ctx, "ov", "base.tar", nil); err != nil {
		t.Fatal(err)
	}
	return s, ctx
}

func TestResetBoth(t *testing.T) {
	s, ctx := plainAndOverlay(t)
	for _, n := range []string{"plain", "ov"} {
		root := s.RootfsPath(n)
		writeFile(t, filepath.Join(root, "etc/hostname"), "dirty\n")
		writeFile(t, filepath.Join(root, "added"), "x")
		if err := os.Remove(filepath.Join(root, "bin/sh")); err != nil {
			t.Fatal(err)
		}
		if err := s.Reset(ctx, n, nil); err != nil {
			t.Fatalf("Reset %s: %v", n, err)
		}
		if got := readFile(t, filepath.Join(root, "etc/hostname")); got != "box\n" {
			t.Errorf("%s after Reset: etc/hostname %q", n, got)
		}
		if _, err := os.Stat(filepath.Join(root, "added")); !os.IsNotExist(err) {
			t.Errorf("%s after Reset: added file still there (%v)", n, err)
		}
		if _, err := os.Stat(filepath.Join(root, "bin/sh")); err != nil {
			t.Errorf("%s after Reset: bin/sh not restored: %v", n, err)
		}
	}
	mustMounted(t, s, "ov", true)
	if du, err := s.DiskUse("ov"); err != nil || du > 64<<10 {
		t.Errorf("DiskUse of a reset overlay = %d, %v; want an empty upper layer", du, err)
	}
	if err := s.Reset(ctx, "nope", nil); !errors.Is(err, ErrNotExist) {
		t.Errorf("Reset of a missing instance: %v", err)
	}
	os.Remove(s.ImagePath("base.tar"))
	if err := s.Reset(ctx, "plain", nil); !errors.Is(err, ErrNotExist) || !strings.Contains(err.Error(), "base.tar") {
		t.Errorf("Reset of a plain instance whose image is gone: %v, want ErrNotExist naming it", err)
	}
	if got := readFile(t, filepath.Join(s.RootfsPath("plain"), "etc/hostname")); got != "box\n" {
		t.Errorf("failed Reset changed the instance: %q", got)
	}
	if err := s.Reset(ctx, "ov", nil); err != nil {
		t.Errorf("Reset of an overlay needs only its lower layer, not the image: %v", err)
	}
}

func TestCloneBoth(t *testing.T) {
	s, ctx := plainAndOverlay(t)
	for _, n := range []string{"plain", "ov"} {
		writeFile(t, filepath.Join(s.RootfsPath(n), "etc/hostname"), n+"\n")
		os.Remove(filepath.Join(s.RootfsPath(n), "bin/sh"))
		if err := s.Clone(ctx, n, n+"2", nil); err != nil {
			t.Fatalf("Clone %s: %v", n, err)
		}
		c := s.RootfsPath(n + "2")
		if got := readFile(t, filepath.Join(c, "etc/hostname")); got != n+"\n" {
			t.Errorf("clone of %s: etc/hostname %q", n, got)
		}
		if _, err := os.Stat(filepath.Join(c, "bin/sh")); !os.IsNotExist(err) {
			t.Errorf("clone of %s: a deletion was not kept (%v)", n, err)
		}
		writeFile(t, filepath.Join(c, "etc/hostname"), "clone\n")
		if got := readFile(t, filepath.Join(s.RootfsPath(n), "etc/hostname")); got != n+"\n" {
			t.Errorf("writing the clone changed %s: %q", n, got)
		}
		in, _ := s.Instance(n + "2")
		if in.Overlay != (n == "ov") || in.Image != "base.tar" {
			t.Errorf("clone of %s: %+v", n, in)
		}
	}
	if lowerCount(t, s) != 1 {
		t.Errorf("the overlay clone did not share the lower layer")
	}
	s.Remove("ov")
	if got := readFile(t, filepath.Join(s.RootfsPath("ov2"), "etc/hostname")); got != "clone\n" || lowerCount(t, s) != 1 {
		t.Errorf("removing the source dropped the clone's lower layer: %q, %d", got, lowerCount(t, s))
	}
	if err := s.Clone(ctx, "plain", "ov2", nil); !errors.Is(err, ErrExist) {
		t.Errorf("Clone onto an existing name: %v", err)
	}
	if err := s.Clone(ctx, "nope", "x", nil); !errors.Is(err, ErrNotExist) {
		t.Errorf("Clone of a missing instance: %v", err)
	}
	if _, err := os.Stat(s.RootfsPath("x")); !os.IsNotExist(err) {
		t.Errorf("failed Clone left %s", s.RootfsPath("x"))
	}
}

func TestRenameBoth(t *testing.T) {
	s := newOverlayStore(t)
	ctx := context.Background()
	for _, n := range []string{"plain", "ov", "other"} {
		mk := s.New
		if n == "ov" {
			mk = s.NewOverlay
		}
		if err := mk(ctx, n, "base.tar", nil); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(s.RootfsPath("ov"), "mark"), "ov")
	if err := s.SetDefault("ov"); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename("ov", "ov-new"); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename("plain", "plain-new"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(s.RootfsPath("ov-new"), "mark")); got != "ov" {
		t.Errorf("renamed overlay: mark %q", got)
	}
	mustMounted(t, s, "ov-new", true)
	mustMounted(t, s, "ov", false)
	if def, _ := s.Default(); def != "ov-new" {
		t.Errorf("default after renaming it: %q", def)
	}
	names := instanceNames(t, s)
	if names != "plain-new ov-new other" {
		t.Errorf("registry after renames: %q (order kept)", names)
	}
	if err := s.Rename("other", "ov-new"); !errors.Is(err, ErrExist) {
		t.Errorf("Rename onto an existing name: %v", err)
	}
	if err := s.Rename("gone", "x"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Rename of a missing instance: %v", err)
	}
	if err := s.Rename("other", "../x"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Rename to an invalid name: %v", err)
	}
	s.UnmountAll()
	s2, err := Open(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.UnmountAll() })
	if got := instanceNames(t, s2); got != names {
		t.Errorf("after reopen: %q", got)
	}
	if in, _ := s2.Instance("ov-new"); !in.Overlay {
		t.Errorf("renamed overlay lost its kind: %+v", in)
	}
}

// TestRenameRollsForward: a crash after the rename journal and the folder
// moves, before the registry write, is finished by Open.
func TestRenameRollsForward(t *testing.T) {
	s := newOverlayStore(t)
	ctx := context.Background()
	if err := s.NewOverlay(ctx, "a", "base.tar", nil); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(s.RootfsPath("a"), "mark"), "a")
	s.UnmountAll()
	if err := s.writeAtomic(renameF, []byte("a b\n")); err != nil {
		t.Fatal(err)
	}
	if err := moveInstanceDirs(s, "a", "b"); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.UnmountAll() })
	if got := instanceNames(t, s2); got != "b" {
		t.Fatalf("after the interrupted rename: %q, want b", got)
	}
	if err := s2.MountAll(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(s2.RootfsPath("b"), "mark")); got != "a" {
		t.Errorf("the upper layer did not follow the rename: %q", got)
	}
	if _, err := os.Stat(s2.path(renameF)); !os.IsNotExist(err) {
		t.Errorf("rename journal left: %v", err)
	}
}

func instanceNames(t *testing.T, s *Store) string {
	ins, err := s.Instances()
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, in := range ins {
		n = append(n, in.Name)
	}
	return strings.Join(n, " ")
}

func TestDefault(t *testing.T) {
	s := newStore(t)
	if def, err := s.Default(); def != "" || err != nil {
		t.Fatalf("Default of a new store: %q %v", def, err)
	}
	if err := s.SetDefault("box"); !errors.Is(err, ErrNotExist) {
		t.Errorf("SetDefault of an unknown instance: %v", err)
	}
	if err := s.New(context.Background(), "box", "base.tar", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDefault("box"); err != nil {
		t.Fatal(err)
	}
	s2, _ := Open(s.Root())
	if def, err := s2.Default(); def != "box" || err != nil {
		t.Errorf("Default after reopen: %q %v", def, err)
	}
	if err := s.SetDefault(""); err != nil {
		t.Fatal(err)
	}
	if def, _ := s.Default(); def != "" {
		t.Errorf("Default after clearing: %q", def)
	}
	s.SetDefault("box")
	s.Remove("box")
	if def, _ := s.Default(); def != "" {
		t.Errorf("Default naming a removed instance: %q, want none", def)
	}
}

func TestDiskUse(t *testing.T) {
	s, _ := plainAndOverlay(t)
	before, err := s.DiskUse("ov")
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := s.DiskUse("plain")
	if plain < 5004 {
		t.Errorf("DiskUse of a plain instance holding 5004 bytes: %d", plain)
	}
	big := strings.Repeat("z", 1<<20)
	writeFile(t, filepath.Join(s.RootfsPath("ov"), "big"), big)
	os.Link(filepath.Join(s.RootfsPath("ov"), "big"), filepath.Join(s.RootfsPath("ov"), "big2"))
	after, _ := s.DiskUse("ov")
	if d := after - before; d < 1<<20 || d > 1<<20+64<<10 {
		t.Errorf("DiskUse grew by %d after writing 1 MiB (hard-linked twice), want about 1 MiB", d)
	}
	if _, err := s.DiskUse("nope"); !errors.Is(err, ErrNotExist) {
		t.Errorf("DiskUse of a missing instance: %v", err)
	}
}
