package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// diffStore has an image with a few directories to change.
func diffStore(t *testing.T) *Store {
	s := newOverlayStore(t)
	img := makeTar(t, dir("etc/"), file("etc/hostname", "box\n"), file("etc/motd", "hello\n"),
		dir("usr/"), dir("usr/share/"), dir("usr/share/doc/"), file("usr/share/doc/a", "a"), file("usr/share/doc/b", "b"),
		dir("opt/"), dir("opt/x/"), file("opt/x/keep", "k"), file("opt/x/drop", "d"),
		file("bin/sh", "#!"), hardlink("bin/sh2", "bin/sh"), symlink("bin/ln", "sh"), dir("var/"), file("var/f", "f"))
	if err := os.WriteFile(s.ImagePath("diff.tar"), img, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// dirty changes an instance's tree the same way for both kinds.
func dirty(t *testing.T, root string) {
	t.Helper()
	p := func(rel string) string { return filepath.Join(root, rel) }
	writeFile(t, p("etc/hostname"), "bix\n") // same size, new content
	must(t, os.Chmod(p("etc/motd"), 0o600))
	must(t, os.RemoveAll(p("usr/share/doc")))
	must(t, os.MkdirAll(p("srv/new"), 0o755))
	writeFile(t, p("srv/new/file"), "n")
	must(t, os.Remove(p("bin/ln")))
	must(t, os.Symlink("elsewhere", p("bin/ln")))
	must(t, os.RemoveAll(p("var")))
	writeFile(t, p("var"), "now a file")
	// opt/x deleted and made again: an opaque directory in an overlay.
	must(t, os.RemoveAll(p("opt/x")))
	must(t, os.Mkdir(p("opt/x"), 0o755))
	writeFile(t, p("opt/x/keep"), "k2")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestDiffBoth(t *testing.T) {
	s := diffStore(t)
	ctx := context.Background()
	want := []string{
		"added /srv", "added /srv/new", "added /srv/new/file",
		"modified /bin/ln", "modified /etc/hostname", "modified /etc/motd",
		"deleted /opt/x/drop", "modified /opt/x/keep",
		"deleted /usr/share/doc",
		"modified /var",
	}
	for _, kind := range []string{"plain", "overlay"} {
		mk := s.New
		if kind == "overlay" {
			mk = s.NewOverlay
		}
		must(t, mk(ctx, kind, "diff.tar", nil))
		if ch, err := s.Diff(ctx, kind); err != nil || len(ch) != 0 {
			t.Fatalf("%s: Diff of a fresh instance = %v, %v; want nothing", kind, ch, err)
		}
		dirty(t, s.RootfsPath(kind))
		ch, err := s.Diff(ctx, kind)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		var lines []string
		for _, c := range ch {
			got[string(c.Kind)+" "+c.Path] = true
			lines = append(lines, string(c.Kind)+" "+c.Path)
		}
		for _, w := range want {
			if !got[w] {
				t.Errorf("%s: Diff lacks %q; got:\n%s", kind, w, strings.Join(lines, "\n"))
			}
		}
		for _, l := range lines {
			if strings.Contains(l, "/usr/share/doc/") || strings.Contains(l, "/bin/sh") || strings.Contains(l, "/etc ") {
				t.Errorf("%s: unexpected %q", kind, l)
			}
		}
		for i := 1; i < len(ch); i++ {
			if ch[i-1].Path > ch[i].Path {
				t.Errorf("%s: not sorted by path: %v", kind, ch)
			}
		}
	}
	// A file touched but unchanged is not a change of a plain instance:
	// the content is compared when the mtime differs.
	must(t, s.Reset(ctx, "plain", nil))
	future := time.Now().Add(time.Hour)
	must(t, os.Chtimes(filepath.Join(s.RootfsPath("plain"), "etc/hostname"), future, future))
	if ch, err := s.Diff(ctx, "plain"); err != nil || len(ch) != 0 {
		t.Errorf("Diff after touching a file: %v %v; want nothing", ch, err)
	}
	if _, err := s.Diff(ctx, "nope"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Diff of a missing instance: %v", err)
	}
	os.Remove(s.ImagePath("diff.tar"))
	if _, err := s.Diff(ctx, "plain"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Diff of a plain instance whose image is gone: %v", err)
	}
}

// TestDiffUnwrapped: a plain instance of a wrapped image is compared with
// the unwrapped entries.
func TestDiffUnwrapped(t *testing.T) {
	s := newStore(t)
	img := makeTar(t, dir("wrap/"), dir("wrap/etc/"), file("wrap/etc/hostname", "w\n"), file("wrap/etc/other", "o"))
	must(t, os.WriteFile(s.ImagePath("w.tar"), img, 0o600))
	ctx := context.Background()
	must(t, s.New(ctx, "w", "w.tar", nil))
	must(t, os.Remove(filepath.Join(s.RootfsPath("w"), "etc/other")))
	ch, err := s.Diff(ctx, "w")
	if err != nil || len(ch) != 1 || ch[0] != (Change{"/etc/other", Deleted}) {
		t.Errorf("Diff of an unwrapped instance = %v, %v; want /etc/other deleted", ch, err)
	}
}

// TestDiffOCI: a plain instance of an OCI image is compared with the
// layers applied, not with the layout's files.
func TestDiffOCI(t *testing.T) {
	s := newStore(t)
	writeOCILayout(t, s.ImagePath("layout"), ociTestLayers(t))
	ctx := context.Background()
	must(t, s.New(ctx, "o", "layout", nil))
	if ch, err := s.Diff(ctx, "o"); err != nil || len(ch) != 0 {
		t.Fatalf("Diff of a fresh OCI instance = %v, %v; want nothing", ch, err)
	}
	must(t, os.Remove(filepath.Join(s.RootfsPath("o"), "usr/share/doc/c")))
	writeFile(t, filepath.Join(s.RootfsPath("o"), "etc/hostname"), "six\n")
	ch, err := s.Diff(ctx, "o")
	want := []Change{{"/etc/hostname", Modified}, {"/usr/share/doc/c", Deleted}}
	if err != nil || fmt.Sprint(ch) != fmt.Sprint(want) {
		t.Errorf("Diff = %v, %v; want %v", ch, err, want)
	}
}
