package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtract feeds arbitrary bytes to the extractor. Whatever the input,
// it must not panic, must create nothing beside its destination, and on
// error must leave nothing at all. Seeds live in testdata/fuzz/FuzzExtract.
func FuzzExtract(f *testing.F) {
	f.Add(makeTar(f, file("etc/hostname", "x"), symlink("l", "/etc"), hardlink("h", "etc/hostname")))
	f.Add(gzipBytes(makeTar(f, dir("a/"), file("a/b", "b"))))
	f.Add(zstdBytes(makeTar(f, file("z", strings.Repeat("z", 3000)))))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := t.TempDir()
		dst := filepath.Join(d, "root")
		res, err := extract(context.Background(), bytes.NewReader(data), dst, nil, extractOpts{maxSparse: 1 << 30})
		ents, _ := os.ReadDir(d)
		switch {
		case err != nil && len(ents) != 0:
			t.Fatalf("failed extraction (%v) left %v", err, ents)
		case err == nil && (len(ents) != 1 || ents[0].Name() != "root"):
			t.Fatalf("extraction created %v beside its destination", ents)
		case err == nil && res.Root != dst && filepath.Dir(res.Root) != dst:
			t.Fatalf("result root %s outside %s", res.Root, dst)
		}
	})
}
