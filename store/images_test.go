package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSeedScope: Seed stays on one file system (a mount point is archived
// empty) and leaves the state root out, even when it lies inside dir.
func TestSeedScope(t *testing.T) {
	d := t.TempDir()
	src := filepath.Join(d, "src")
	run(t, "sh", "-c", `mkdir -p "$1/mnt" "$1/etc" && echo keep > "$1/etc/keep"`, "sh", src)
	if err := unix.Mount("tmpfs", filepath.Join(src, "mnt"), "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(src, "mnt"), unix.MNT_DETACH) })
	os.WriteFile(filepath.Join(src, "mnt/other-fs"), []byte("x"), 0o644)
	s, err := Open(filepath.Join(src, "var/lib/initns"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(context.Background(), src, "self.tar", nil); err != nil {
		t.Fatal(err)
	}
	list := run(t, "tar", "-tf", s.ImagePath("self.tar"))
	for _, want := range []string{"./etc/keep\n", "./mnt/\n", "./var/lib/\n"} {
		if !strings.Contains(list, want) {
			t.Errorf("archive lacks %q:\n%s", want, list)
		}
	}
	for _, bad := range []string{"other-fs", "initns", "images", "scratch"} {
		if strings.Contains(list, bad) {
			t.Errorf("archive holds %q:\n%s", bad, list)
		}
	}
}

func TestSeedRefuses(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("f"), 0o644)
	before, _ := os.ReadFile(s.ImagePath("base.tar"))
	if err := s.Seed(ctx, src, "base.tar", nil); !errors.Is(err, ErrExist) {
		t.Errorf("Seed over an existing image: %v, want ErrExist", err)
	}
	if after, _ := os.ReadFile(s.ImagePath("base.tar")); string(after) != string(before) {
		t.Error("existing image changed")
	}
	if err := s.Seed(ctx, src, "x.zip", nil); !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), ".tar.zst") {
		t.Errorf("Seed x.zip: %v", err)
	}
	if err := s.Seed(ctx, src, "../x.tar", nil); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Seed ../x.tar: %v", err)
	}
	if err := s.Seed(ctx, "relative/dir", "x.tar", nil); err == nil {
		t.Error("Seed of a relative path succeeded")
	}
	if err := s.Seed(ctx, filepath.Join(src, "f"), "x.tar", nil); err == nil {
		t.Error("Seed of a file succeeded")
	}
	imgs, _ := s.Images()
	if len(imgs) != 1 || imgs[0].Name != "base.tar" || imgs[0].Size != int64(len(before)) {
		t.Errorf("Images %+v", imgs)
	}
	if ents, _ := os.ReadDir(s.path(scratchDir)); len(ents) != 0 {
		t.Errorf("scratch not empty: %v", ents)
	}
}

// TestCommit: an instance committed to an image and extracted again is the
// same tree; Remove waits for the commit (ErrBusy).
func TestCommit(t *testing.T) {
	d, src := richSource(t)
	s, err := Open(filepath.Join(d, "state"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Seed(ctx, src, "rich.tar.zst", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.New(ctx, "box", "rich.tar.zst", nil); err != nil {
		t.Fatal(err)
	}
	var calls int
	var lastDone, lastTotal int64
	p := func(done, total int64) {
		calls++
		lastDone, lastTotal = done, total
		if calls == 1 {
			if err := s.Remove("box"); !errors.Is(err, ErrBusy) {
				t.Errorf("Remove during Commit: %v, want ErrBusy", err)
			}
		}
	}
	if err := s.Commit(ctx, "box", "box.tar.gz", p); err != nil {
		t.Fatal(err)
	}
	if calls == 0 || lastDone != lastTotal || lastDone < 300000 {
		t.Errorf("progress: %d calls, last %d/%d", calls, lastDone, lastTotal)
	}
	if err := s.New(ctx, "copy", "box.tar.gz", nil); err != nil {
		t.Fatal(err)
	}
	sameTree(t, s.RootfsPath("box"), s.RootfsPath("copy"))
	if err := s.Commit(ctx, "box", "box.tar.gz", nil); !errors.Is(err, ErrExist) {
		t.Errorf("Commit over an existing image: %v", err)
	}
	if err := s.Commit(ctx, "nobody", "n.tar", nil); !errors.Is(err, ErrNotExist) {
		t.Errorf("Commit of a missing instance: %v", err)
	}
}
