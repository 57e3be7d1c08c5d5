package archive

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// sandbox is a work folder, where images are extracted, next to an
// "outside" tree that no image may touch.
type sandbox struct {
	t       *testing.T
	dir     string
	outside string
	before  string
	root    string // the tree the last successful newFrom made
}

func newSandbox(t *testing.T) *sandbox {
	d := t.TempDir()
	sb := &sandbox{t: t, dir: d, outside: filepath.Join(d, "outside")}
	run(t, "sh", "-c", `mkdir -p "$1/sub" "$2/images" "$2/work" && echo original > "$1/victim" && echo original > "$1/sub/victim" && chmod 0755 "$1"`,
		"sh", sb.outside, d)
	sb.before = describe(t, sb.outside)
	return sb
}

// newFrom writes image bytes into the images folder and extracts the file
// with ExtractImage into work/box, as store's New does.
func (sb *sandbox) newFrom(image string, data []byte) error {
	p := filepath.Join(sb.dir, "images", image)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		sb.t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		sb.t.Fatal(err)
	}
	defer f.Close()
	res, err := ExtractImage(context.Background(), f, filepath.Join(sb.dir, "work", "box"), nil)
	sb.root = res.Root
	return err
}

// untouched asserts nothing outside changed and no tree or temporary file
// was left behind.
func (sb *sandbox) untouched() {
	t := sb.t
	t.Helper()
	if after := describe(t, sb.outside); after != sb.before {
		t.Errorf("outside tree changed:\n%s", diffLines(sb.before, after))
	}
	if ents, _ := os.ReadDir(filepath.Join(sb.dir, "work")); len(ents) != 0 {
		t.Errorf("work/ not empty: %v", ents)
	}
}
