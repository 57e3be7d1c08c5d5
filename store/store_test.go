package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestNames(t *testing.T) {
	for _, n := range []string{"a", "box", "Debian_12.x-1", "0", strings.Repeat("a", 64)} {
		if err := ValidInstanceName(n); err != nil {
			t.Errorf("ValidInstanceName(%q): %v", n, err)
		}
	}
	for _, n := range []string{"", ".a", "-a", "a/b", "..", ".", "a b", "a\x00", "é", strings.Repeat("a", 65), "../etc"} {
		err := ValidInstanceName(n)
		if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), "A-Z a-z 0-9 _ . -") {
			t.Errorf("ValidInstanceName(%q) = %v, want ErrInvalidName saying what is allowed", n, err)
		}
	}
	if err := ValidImageName(strings.Repeat("i", 128)); err != nil {
		t.Errorf("128-char image name: %v", err)
	}
	if err := ValidImageName(strings.Repeat("i", 129)); !errors.Is(err, ErrInvalidName) {
		t.Errorf("129-char image name: %v", err)
	}
}

// newStore opens a store in a fresh directory with one small image.
func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	img := makeTar(t, dir("etc/"), file("etc/hostname", "box\n"), file("bin/sh", strings.Repeat("#", 5000)))
	if err := os.WriteFile(s.ImagePath("base.tar"), img, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewRemove(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	for _, n := range []string{"b", "a", "c"} {
		if err := s.New(ctx, n, "base.tar", nil); err != nil {
			t.Fatalf("New %s: %v", n, err)
		}
	}
	if data, _ := os.ReadFile(s.path(registryF)); string(data) != "b\na\nc\n" {
		t.Errorf("registry %q, want one name per line in creation order", data)
	}
	in, err := s.Instance("a")
	if err != nil || in.Image != "base.tar" || in.Size != 5004 || in.Created.Before(before) {
		t.Errorf("Instance(a) = %+v, %v", in, err)
	}
	if data, err := os.ReadFile(filepath.Join(s.RootfsPath("a"), "etc/hostname")); string(data) != "box\n" {
		t.Errorf("rootfs content %q %v", data, err)
	}
	if err := s.New(ctx, "a", "base.tar", nil); !errors.Is(err, ErrExist) {
		t.Errorf("New of an existing name: %v, want ErrExist", err)
	}
	if err := s.New(ctx, "d", "missing.tar", nil); !errors.Is(err, ErrNotExist) || !strings.Contains(err.Error(), "missing.tar") {
		t.Errorf("New from a missing image: %v, want ErrNotExist naming it", err)
	}
	if err := s.New(ctx, "../escape", "base.tar", nil); !errors.Is(err, ErrInvalidName) {
		t.Errorf("New ../escape: %v", err)
	}
	if err := s.New(ctx, "e", "../base.tar", nil); !errors.Is(err, ErrInvalidName) {
		t.Errorf("New from ../base.tar: %v", err)
	}
	if err := s.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("a"); !errors.Is(err, ErrNotExist) {
		t.Errorf("second Remove: %v, want ErrNotExist", err)
	}
	if _, err := os.Lstat(s.RootfsPath("a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rootfs/a still there: %v", err)
	}
	ins, _ := s.Instances()
	if len(ins) != 2 || ins[0].Name != "b" || ins[1].Name != "c" {
		t.Errorf("Instances %+v", ins)
	}
	// A new Store on the same root sees the same, with metadata.
	s2, err := Open(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	ins2, _ := s2.Instances()
	if fmt.Sprint(ins2) != fmt.Sprint(ins) {
		t.Errorf("reopened: %v, want %v", ins2, ins)
	}
	if ents, _ := os.ReadDir(s.path(scratchDir)); len(ents) != 0 {
		t.Errorf("scratch not empty: %v", ents)
	}
}

// TestOpenReconciles: Open finishes or undoes whatever a crash left.
func TestOpenReconciles(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, n := range []string{"kept", "legacy"} {
		if err := s.New(ctx, n, "base.tar", nil); err != nil {
			t.Fatal(err)
		}
	}
	root := s.Root()
	// A rootfs without a line (new before its commit point, or rm after).
	os.MkdirAll(filepath.Join(root, "rootfs/orphan/etc"), 0o755)
	// Lines without a rootfs, invalid and duplicate lines, and an instance
	// an older tool made (no metadata).
	os.WriteFile(filepath.Join(root, registryF), []byte("kept\nghost\n../../etc\nlegacy\nkept\n"), 0o644)
	meta, _ := os.ReadFile(filepath.Join(root, metaF))
	os.WriteFile(filepath.Join(root, metaF), []byte(strings.Replace(string(meta), `"legacy"`, `"gone"`, 1)), 0o644)
	os.MkdirAll(filepath.Join(root, "scratch/new-x.123/root/usr"), 0o755)
	os.Chmod(filepath.Join(root, rootfsDir), 0o755)

	s2, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ins, _ := s2.Instances()
	if len(ins) != 2 || ins[0].Name != "kept" || ins[0].Image != "base.tar" || ins[1].Name != "legacy" || ins[1].Size != 5004 {
		t.Errorf("Instances after reconcile: %+v", ins)
	}
	if data, _ := os.ReadFile(filepath.Join(root, registryF)); string(data) != "kept\nlegacy\n" {
		t.Errorf("registry %q", data)
	}
	names, _ := s2.rootfsNames()
	if len(names) != 2 || !names["kept"] || !names["legacy"] {
		t.Errorf("rootfs/ holds %v", names)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, scratchDir)); len(ents) != 0 {
		t.Errorf("scratch not emptied: %v", ents)
	}
	if fi, _ := os.Stat(filepath.Join(root, rootfsDir)); fi.Mode().Perm() != 0o700 {
		t.Errorf("rootfs/ mode %v, want 0700", fi.Mode().Perm())
	}
}

func TestNewCancel(t *testing.T) {
	s := newStore(t)
	var files []entry
	for i := range 300 {
		files = append(files, file(fmt.Sprintf("f%03d", i), strings.Repeat("z", 100000)))
	}
	os.WriteFile(s.ImagePath("big.tar"), makeTar(t, files...), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := s.New(ctx, "box", "big.tar", func(done, total int64) {
		calls++
		cancel()
	})
	// The progress reader reports at its first read, so the cancellation
	// comes before any entry is written.
	if err == nil {
		t.Fatal("New finished despite the cancellation at the first progress report")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("New: %v, want context.Canceled", err)
	}
	if ins, _ := s.Instances(); len(ins) != 0 {
		t.Errorf("instances %v", ins)
	}
	for _, d := range []string{rootfsDir, scratchDir} {
		if ents, _ := os.ReadDir(s.path(d)); len(ents) != 0 {
			t.Errorf("%s/ not empty: %v", d, ents)
		}
	}
}

func TestProgress(t *testing.T) {
	s := newStore(t)
	fi, _ := os.Stat(s.ImagePath("base.tar"))
	var last, total int64
	err := s.New(context.Background(), "box", "base.tar", func(d, tot int64) { last, total = d, tot })
	if err != nil {
		t.Fatal(err)
	}
	if last != fi.Size() || total != fi.Size() {
		t.Errorf("final progress %d/%d, want %d/%d", last, total, fi.Size(), fi.Size())
	}
	// A longer extraction reports as it goes, at most about ten times a
	// second.
	var files []entry
	for i := range 400 {
		files = append(files, file(fmt.Sprintf("f%03d", i), strings.Repeat("p", 200000)))
	}
	os.WriteFile(s.ImagePath("big.tar.gz"), gzipBytes(makeTar(t, files...)), 0o600)
	calls, prev := 0, int64(-1)
	start := time.Now()
	err = s.New(context.Background(), "big", "big.tar.gz", func(d, tot int64) {
		calls++
		if d < prev || d > tot {
			t.Errorf("progress %d/%d after %d", d, tot, prev)
		}
		prev = d
	})
	if err != nil {
		t.Fatal(err)
	}
	if limit := int(time.Since(start)/(100*time.Millisecond)) + 2; calls > limit {
		t.Errorf("%d progress calls in %v, over %d", calls, time.Since(start), limit)
	}
}

// TestConcurrentNew: many creations at once; of those racing for one name
// exactly one wins, the others get ErrExist or ErrBusy.
func TestConcurrentNew(t *testing.T) {
	s := newStore(t)
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "same"
			if i%2 == 1 {
				name = fmt.Sprintf("box%d", i)
			}
			errs[i] = s.New(context.Background(), name, "base.tar", nil)
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case i%2 == 1 && err != nil:
			t.Errorf("New box%d: %v", i, err)
		case i%2 == 0 && err == nil:
			won++
		case i%2 == 0 && !errors.Is(err, ErrExist) && !errors.Is(err, ErrBusy):
			t.Errorf("losing New: %v", err)
		}
	}
	if ins, _ := s.Instances(); won != 1 || len(ins) != 9 {
		t.Errorf("%d winners for one name, %d instances", won, len(ins))
	}
}

func TestUnwrap(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	os.WriteFile(s.ImagePath("wrapped.tar"), makeTar(t, dir("./debian/"), dir("./debian/etc/"),
		file("./debian/etc/hostname", "w"), hardlink("./debian/etc/h2", "./debian/etc/hostname")), 0o600)
	os.WriteFile(s.ImagePath("etc-only.tar"), makeTar(t, dir("etc/"), file("etc/hostname", "p")), 0o600)
	if err := s.New(ctx, "w", "wrapped.tar", nil); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(s.RootfsPath("w"), "etc/h2")); string(data) != "w" {
		t.Errorf("wrapped image not unwrapped: %q", data)
	}
	if err := s.New(ctx, "p", "etc-only.tar", nil); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(s.RootfsPath("p"), "etc/hostname")); string(data) != "p" {
		t.Errorf("partial root unwrapped: %q", data)
	}
}

// TestConcurrentMixed: creations, removals, commits, seeds and listings at
// once leave a registry that matches rootfs/ and images that restore.
func TestConcurrentMixed(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.New(ctx, "base", "base.tar", nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				name := fmt.Sprintf("w%d-%d", w, i)
				if err := s.New(ctx, name, "base.tar", nil); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if err := s.Remove(name); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 4 {
			if err := s.Commit(ctx, "base", fmt.Sprintf("c%d.tar.zst", i), nil); err != nil {
				t.Error(err)
			}
		}
	}()
	listed := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				listed <- n
				return
			default:
			}
			if _, err := s.Instances(); err != nil {
				t.Error(err)
			}
			s.Images()
			n++
		}
	}()
	wg.Wait()
	close(stop)
	if n := <-listed; n == 0 {
		t.Error("no listing ran")
	}
	ins, _ := s.Instances()
	names, _ := s.rootfsNames()
	if len(ins) != 7 || len(names) != 7 {
		t.Errorf("%d instances, %d root filesystems, want 7 (base and the odd ones)", len(ins), len(names))
	}
	for _, in := range ins {
		if !names[in.Name] {
			t.Errorf("instance %s has no root filesystem", in.Name)
		}
	}
	for i := range 4 {
		if _, err := extractPath(s.ImagePath(fmt.Sprintf("c%d.tar.zst", i)), filepath.Join(t.TempDir(), "x")); err != nil {
			t.Error(err)
		}
	}
}

// TestSeparateFileSystems: rootfs/ and images/ may be mount points of
// their own; work then happens in a scratch folder on the same file system,
// which Open empties too.
func TestSeparateFileSystems(t *testing.T) {
	root := filepath.Join(t.TempDir(), "state")
	for _, d := range []string{rootfsDir, imagesDir} {
		p := filepath.Join(root, d)
		os.MkdirAll(p, 0o700)
		if err := unix.Mount("tmpfs", p, "tmpfs", 0, "size=64m"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Unmount(p, unix.MNT_DETACH) })
	}
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	os.WriteFile(s.ImagePath("base.tar"), makeTar(t, file("etc/hostname", "sep")), 0o600)
	if err := s.New(ctx, "box", "base.tar", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "box", "box.tar.gz", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.New(ctx, "copy", "box.tar.gz", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("box"); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, rootfsDir, innerScratch, "new-x.1/root/etc"), 0o700)
	s2, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ins, _ := s2.Instances()
	if len(ins) != 1 || ins[0].Name != "copy" {
		t.Errorf("instances %v", ins)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, rootfsDir, innerScratch)); len(ents) != 0 {
		t.Errorf("rootfs/%s not emptied: %v", innerScratch, ents)
	}
	if imgs, _ := s2.Images(); len(imgs) != 2 {
		t.Errorf("images %v", imgs)
	}
}
