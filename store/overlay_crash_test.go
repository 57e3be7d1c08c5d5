package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// overlayCrashOp is one step of the crash child (crash_test.go) for the
// operations of overlay instances, reset, clone and rename.
func overlayCrashOp(ctx context.Context, s *Store, op string, i int) error {
	name := fmt.Sprintf("x%d", i)
	switch op {
	case "ov-new":
		return s.NewOverlay(ctx, name, "base.tar.gz", nil)
	case "ov-rm":
		if err := s.NewOverlay(ctx, name, "base.tar.gz", nil); err != nil {
			return err
		}
		return s.Remove(name)
	case "ov-reset", "reset":
		if err := os.WriteFile(filepath.Join(s.RootfsPath(op), "mark"), []byte("m"), 0o644); err != nil {
			return err
		}
		return s.Reset(ctx, op, nil)
	case "ov-clone":
		return s.Clone(ctx, "ov-reset", name, nil)
	case "ov-rename":
		ins, _ := s.Instances()
		for _, in := range ins {
			if strings.HasPrefix(in.Name, "rn") {
				return s.Rename(in.Name, fmt.Sprintf("rn%d-%d", os.Getpid(), i))
			}
		}
		return fmt.Errorf("no instance to rename")
	}
	return fmt.Errorf("unknown crash op %q", op)
}

// TestOverlayCrashSafety kills a child in the middle of overlay
// operations, Reset (both kinds), Clone and Rename, and checks after each
// kill that Open leaves every instance whole (an overlay one mountable
// with the image's content), no layer folder or lower layer without an
// owner, and nothing half made.
func TestOverlayCrashSafety(t *testing.T) {
	d := t.TempDir()
	src := filepath.Join(d, "src")
	os.Mkdir(src, 0o755)
	var script strings.Builder
	script.WriteString(`set -e; cd "$1"; mkdir -p a b; `)
	for i := range 40 {
		fmt.Fprintf(&script, "head -c %d /dev/urandom > a/f%d; ", (i*7919)%60000, i)
	}
	script.WriteString(`ln a/f1 b/hard; ln -s ../a/f2 b/sym; mkfifo b/fifo`)
	run(t, "sh", "-c", script.String(), "sh", src)
	want := describe(t, src)
	root := filepath.Join(d, "state")
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := Open(root); err == nil {
			s.UnmountAll()
		}
	})
	ctx := context.Background()
	must(t, s.Seed(ctx, src, "base.tar.gz", nil))
	must(t, s.NewOverlay(ctx, "ov-reset", "base.tar.gz", nil))
	must(t, s.New(ctx, "reset", "base.tar.gz", nil))
	must(t, s.NewOverlay(ctx, "rn0", "base.tar.gz", nil))
	s.UnmountAll()
	for _, op := range []string{"ov-new", "ov-rm", "ov-reset", "reset", "ov-clone", "ov-rename"} {
		t.Run(op, func(t *testing.T) {
			midway := 0
			for i := range 25 {
				killDuring(t, op, root, src, time.Duration(rand.IntN(30000))*time.Microsecond)
				if workLeft(root) {
					midway++
				}
				checkOverlayConsistent(t, root, want)
				if t.Failed() {
					t.Fatalf("inconsistent after kill %d", i)
				}
			}
			t.Logf("%s: 25 kills, %d left work for Open to finish or undo", op, midway)
			if midway < 3 {
				t.Errorf("only %d of 25 kills hit an operation in progress: the test proves little", midway)
			}
		})
	}
}

// checkOverlayConsistent reopens the store, mounts every overlay instance
// and checks each one; it then removes the instances the child made.
func checkOverlayConsistent(t *testing.T, root, want string) {
	t.Helper()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.UnmountAll()
	if err := s.MountAll(); err != nil {
		t.Fatalf("MountAll after a crash: %v", err)
	}
	ins, _ := s.Instances()
	renamed := 0
	layers := map[string]bool{}
	for _, in := range ins {
		got := describe(t, s.RootfsPath(in.Name))
		if in.Name == "reset" || in.Name == "ov-reset" {
			got = dropLines(got, ". ", "mark ")
			if w := dropLines(want, ". "); got != w {
				t.Errorf("instance %s after a crash in Reset:\n%s", in.Name, diffLines(w, got))
			}
			continue
		}
		if in.Overlay {
			layers[in.Name] = true
		}
		if got != want && (in.Name[0] != 'x' || dropLines(got, ". ", "mark ") != dropLines(want, ". ")) {
			t.Errorf("instance %s incomplete:\n%s", in.Name, diffLines(want, got))
		}
		switch {
		case strings.HasPrefix(in.Name, "rn"):
			renamed++
		case strings.HasPrefix(in.Name, "x"):
			if err := s.Remove(in.Name); err != nil {
				t.Error(err)
			}
		}
	}
	if renamed != 1 {
		t.Errorf("%d instances from the renamed one, want exactly 1: %v", renamed, ins)
	}
	checkNoLeftovers(t, s)
}

func checkNoLeftovers(t *testing.T, s *Store) {
	t.Helper()
	ents, _ := os.ReadDir(s.path(overlayDir))
	for _, e := range ents {
		if in, err := s.Instance(e.Name()); err != nil || !in.Overlay {
			t.Errorf("overlay folder %s belongs to no overlay instance", e.Name())
		}
	}
	refs, _ := s.lowerRefs()
	lowers, _ := os.ReadDir(s.path(lowerDir))
	for _, e := range lowers {
		if refs[e.Name()] == 0 {
			t.Errorf("lower layer %s is referenced by nothing", e.Name())
		}
		if _, err := os.Stat(filepath.Join(s.path(lowerDir), e.Name(), lowerSize)); err != nil {
			t.Errorf("lower layer %s is incomplete", e.Name())
		}
	}
	if ents, _ := os.ReadDir(s.path(scratchDir)); len(ents) != 0 {
		t.Errorf("scratch not empty: %v", ents)
	}
	if _, err := os.Stat(s.path(renameF)); err == nil {
		t.Errorf("rename journal left")
	}
}

func dropLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		keep := true
		for _, p := range prefixes {
			keep = keep && !strings.HasPrefix(l, p)
		}
		if keep {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// workLeft reports whether a killed child left unfinished work: a
// half-made folder, a scratch entry, a rename journal, or a layer folder
// or mount point the registry does not list.
func workLeft(root string) bool {
	for _, d := range []string{scratchDir, overlayDir, lowerDir} {
		ents, _ := os.ReadDir(filepath.Join(root, d))
		for _, e := range ents {
			if d == scratchDir || strings.HasPrefix(e.Name(), tmpPrefix) {
				return true
			}
		}
	}
	if _, err := os.Stat(filepath.Join(root, renameF)); err == nil {
		return true
	}
	reg, _, _ := readRegistry(filepath.Join(root, registryF))
	listed := map[string]bool{}
	for _, n := range reg {
		listed[n] = true
	}
	for _, d := range []string{rootfsDir, overlayDir} {
		ents, _ := os.ReadDir(filepath.Join(root, d))
		for _, e := range ents {
			if !listed[e.Name()] && !strings.HasPrefix(e.Name(), tmpPrefix) {
				return true
			}
		}
	}
	return false
}
