package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func lowerCount(t *testing.T, s *Store) int {
	t.Helper()
	ents, err := os.ReadDir(s.path(lowerDir))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func mustMounted(t *testing.T, s *Store, name string, want bool) {
	t.Helper()
	got, err := s.Mounted(name)
	if err != nil || got != want {
		t.Fatalf("Mounted(%s) = %v, %v; want %v", name, got, err, want)
	}
}

// newOverlayStore is newStore with every mount unmounted at the end.
func newOverlayStore(t *testing.T) *Store {
	s := newStore(t)
	t.Cleanup(func() { s.UnmountAll() })
	return s
}

func TestNewOverlayShareAndRemove(t *testing.T) {
	s := newOverlayStore(t)
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		if err := s.NewOverlay(ctx, n, "base.tar", nil); err != nil {
			t.Fatalf("NewOverlay %s: %v", n, err)
		}
		mustMounted(t, s, n, true)
	}
	if n := lowerCount(t, s); n != 1 {
		t.Fatalf("%d lower layers for two instances of one image, want 1 shared", n)
	}
	in, err := s.Instance("a")
	if err != nil || !in.Overlay || in.Image != "base.tar" || in.Size != 5004 {
		t.Fatalf("Instance(a) = %+v, %v", in, err)
	}
	if data, err := os.ReadFile(filepath.Join(s.RootfsPath("a"), "etc/hostname")); string(data) != "box\n" {
		t.Fatalf("merged view: %q %v", data, err)
	}
	// A change lands in a's upper layer only.
	if err := os.WriteFile(filepath.Join(s.RootfsPath("a"), "etc/hostname"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(s.RootfsPath("b"), "etc/hostname")); string(data) != "box\n" {
		t.Fatalf("b sees a's change: %q", data)
	}
	if _, err := os.Stat(filepath.Join(s.overlayPath("a"), layerUpper, "etc/hostname")); err != nil {
		t.Fatalf("change not in the upper layer: %v", err)
	}
	if err := s.NewOverlay(ctx, "a", "base.tar", nil); !errors.Is(err, ErrExist) {
		t.Errorf("NewOverlay of an existing name: %v, want ErrExist", err)
	}
	if err := s.NewOverlay(ctx, "c", "missing.tar", nil); !errors.Is(err, ErrNotExist) {
		t.Errorf("NewOverlay of a missing image: %v, want ErrNotExist", err)
	}
	if err := s.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.overlayPath("a")); !os.IsNotExist(err) || lowerCount(t, s) != 1 {
		t.Fatalf("after rm a: upper %v, %d lower layers (want upper gone, lower kept for b)", err, lowerCount(t, s))
	}
	if _, err := os.Stat(s.RootfsPath("a")); !os.IsNotExist(err) {
		t.Fatalf("mount point of a left: %v", err)
	}
	if err := s.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if n := lowerCount(t, s); n != 0 {
		t.Fatalf("%d lower layers after the last instance went, want 0", n)
	}
}

func TestOverlayMountAllAndReopen(t *testing.T) {
	s := newOverlayStore(t)
	ctx := context.Background()
	if err := s.NewOverlay(ctx, "a", "base.tar", nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.RootfsPath("a"), "new-file"), []byte("x"), 0o644)
	if err := s.UnmountAll(); err != nil {
		t.Fatal(err)
	}
	mustMounted(t, s, "a", false)
	s2, err := Open(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.UnmountAll() })
	in, err := s2.Instance("a")
	if err != nil || !in.Overlay {
		t.Fatalf("reopened: %+v %v", in, err)
	}
	for i := 0; i < 2; i++ { // idempotent
		if err := s2.MountAll(); err != nil {
			t.Fatal(err)
		}
	}
	mustMounted(t, s2, "a", true)
	if data, err := os.ReadFile(filepath.Join(s2.RootfsPath("a"), "new-file")); string(data) != "x" {
		t.Fatalf("change lost across remount: %q %v", data, err)
	}
	if n := countMounts(t, s2.RootfsPath("a")); n != 1 {
		t.Fatalf("%d mounts on rootfs/a after MountAll twice, want 1", n)
	}
}

func countMounts(t *testing.T, p string) int {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range splitLines(string(data)) {
		if f := fields(line); len(f) > 4 && f[4] == p {
			n++
		}
	}
	return n
}

// TestOverlayCrashLeftovers: what a crash before the commit point leaves
// (a layer folder, a mounted view, a half lower layer) is gone after Open,
// and a damaged metadata file does not turn an overlay into a plain
// instance.
func TestOverlayCrashLeftovers(t *testing.T) {
	s := newOverlayStore(t)
	ctx := context.Background()
	if err := s.NewOverlay(ctx, "keep", "base.tar", nil); err != nil {
		t.Fatal(err)
	}
	// Forge an unregistered, mounted overlay instance "ghost".
	if err := s.placeLayer(context.Background(), "ghost", mustKey(t, s), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.mountNew("ghost"); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(s.path(lowerDir), tmpPrefix+"half", "x"), 0o700)
	// keep's mount point deleted while unmounted: keep must survive.
	must(t, unix.Unmount(s.RootfsPath("keep"), 0))
	must(t, os.Remove(s.RootfsPath("keep")))
	os.WriteFile(s.path(metaF), []byte("{broken"), 0o600)
	s2, err := Open(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.UnmountAll() })
	mustMounted(t, s2, "ghost", false)
	for _, p := range []string{s2.RootfsPath("ghost"), s2.overlayPath("ghost"), filepath.Join(s2.path(lowerDir), tmpPrefix+"half")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after Open: %v", p, err)
		}
	}
	if in, err := s2.Instance("keep"); err != nil || !in.Overlay {
		t.Errorf("keep after Open with damaged metadata: %+v %v", in, err)
	}
	if lowerCount(t, s2) != 1 {
		t.Errorf("the lower layer of keep was not kept")
	}
}

func mustKey(t *testing.T, s *Store) string {
	k, err := s.lowerKey("base.tar")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func splitLines(s string) []string { return splitOn(s, '\n') }
func fields(s string) []string     { return splitOn(s, ' ') }

func splitOn(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == sep {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// TestNewOverlayConcurrent: instances of one image made at once share one
// lower layer, extracted once.
func TestNewOverlayConcurrent(t *testing.T) {
	s := newOverlayStore(t)
	ctx := context.Background()
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		go func() { errs <- s.NewOverlay(ctx, fmt.Sprintf("c%d", i), "base.tar", nil) }()
	}
	for i := 0; i < 6; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := lowerCount(t, s); n != 1 {
		t.Fatalf("%d lower layers for six instances of one image", n)
	}
	for i := 0; i < 6; i++ {
		if got := readFile(t, filepath.Join(s.RootfsPath(fmt.Sprintf("c%d", i)), "etc/hostname")); got != "box\n" {
			t.Errorf("c%d: %q", i, got)
		}
	}
}

// TestNewOverlayBadImage: a hostile image leaves no instance, layer folder
// or lower layer; a replaced image gets a lower layer of its own.
func TestNewOverlayBadImage(t *testing.T) {
	s := newOverlayStore(t)
	ctx := context.Background()
	must(t, os.WriteFile(s.ImagePath("evil.tar"), makeTar(t, symlink("x", "/"), file("x/etc/evil", "e")), 0o600))
	if err := s.NewOverlay(ctx, "e", "evil.tar", nil); !errors.Is(err, ErrBadImage) {
		t.Fatalf("NewOverlay of a hostile image: %v", err)
	}
	for _, d := range []string{lowerDir, overlayDir} {
		if ents, _ := os.ReadDir(s.path(d)); len(ents) != 0 {
			t.Errorf("%s/ holds %v after a failed NewOverlay", d, ents)
		}
	}
	if _, err := os.Lstat(s.RootfsPath("e")); !os.IsNotExist(err) {
		t.Errorf("mount point left: %v", err)
	}
	must(t, s.NewOverlay(ctx, "a", "base.tar", nil))
	time.Sleep(10 * time.Millisecond)
	must(t, os.WriteFile(s.ImagePath("base.tar"), makeTar(t, file("etc/hostname", "v2\n")), 0o600))
	must(t, s.NewOverlay(ctx, "b", "base.tar", nil))
	if lowerCount(t, s) != 2 {
		t.Errorf("a replaced image shares the old lower layer")
	}
	if got := readFile(t, filepath.Join(s.RootfsPath("b"), "etc/hostname")); got != "v2\n" {
		t.Errorf("instance of the replaced image: %q", got)
	}
	if got := readFile(t, filepath.Join(s.RootfsPath("a"), "etc/hostname")); got != "box\n" {
		t.Errorf("instance of the old image changed: %q", got)
	}
}

// TestCommitOverlay: commit snapshots the merged view.
func TestCommitOverlay(t *testing.T) {
	s := newOverlayStore(t)
	ctx := context.Background()
	must(t, s.NewOverlay(ctx, "a", "base.tar", nil))
	writeFile(t, filepath.Join(s.RootfsPath("a"), "etc/hostname"), "committed\n")
	must(t, s.Commit(ctx, "a", "snap.tar.gz", nil))
	must(t, s.New(ctx, "b", "snap.tar.gz", nil))
	if got := readFile(t, filepath.Join(s.RootfsPath("b"), "etc/hostname")); got != "committed\n" {
		t.Errorf("commit of an overlay: %q", got)
	}
	if _, err := os.Stat(filepath.Join(s.RootfsPath("b"), "bin/sh")); err != nil {
		t.Errorf("commit of an overlay lacks the lower layer's files: %v", err)
	}
}

// TestCommitOverlayUnmounted: commit of an overlay instance whose view is
// not mounted (the daemon has not run MountAll) still snapshots its files.
func TestCommitOverlayUnmounted(t *testing.T) {
	s := newOverlayStore(t)
	ctx := context.Background()
	must(t, s.NewOverlay(ctx, "a", "base.tar", nil))
	must(t, s.UnmountAll())
	must(t, s.Commit(ctx, "a", "snap.tar", nil))
	must(t, s.New(ctx, "b", "snap.tar", nil))
	if got := readFile(t, filepath.Join(s.RootfsPath("b"), "etc/hostname")); got != "box\n" {
		t.Errorf("commit of an unmounted overlay: etc/hostname %q", got)
	}
}
