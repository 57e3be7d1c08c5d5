package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"initns/internal/archivetest"
)

// TestImport publishes a verified file with its origin, refuses a wrong
// digest without leaving anything, is a no-op for the same digest, and
// forgets the origin of an image replaced by hand.
func TestImport(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "dl")
	data := []byte("not really a tarball, but import does not read it")
	os.WriteFile(src, data, 0o600)
	sum := sha256.Sum256(data)
	hexsum := hex.EncodeToString(sum[:])
	f, _ := os.Open(src)
	defer f.Close()
	o := Origin{Source: "https://example.invalid/x.tar", Digest: "sha256:" + hexsum}

	wrong := hex.EncodeToString(make([]byte, 32))
	if _, err := s.Import(context.Background(), "x.tar", f, wrong, o, nil); !errors.Is(err, ErrBadImage) {
		t.Fatalf("wrong digest: %v, want ErrBadImage", err)
	}
	if imgs, _ := s.Images(); len(imgs) != 0 {
		t.Fatalf("a refused import left %v", imgs)
	}
	if ents, _ := os.ReadDir(s.path(scratchDir)); len(ents) != 0 {
		t.Fatalf("scratch holds %v", ents)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Import(ctx, "x.tar", f, hexsum, o, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled import: %v", err)
	}
	if unchanged, err := s.Import(context.Background(), "x.tar", f, hexsum, o, nil); err != nil || unchanged {
		t.Fatalf("import: %v %v", unchanged, err)
	}
	got, _ := os.ReadFile(s.ImagePath("x.tar"))
	if string(got) != string(data) {
		t.Fatal("the image is not the file imported")
	}
	imgs, _ := s.Images()
	if len(imgs) != 1 || imgs[0].Origin == nil || imgs[0].Origin.Digest != o.Digest || imgs[0].Origin.Source != o.Source {
		t.Fatalf("images: %+v", imgs)
	}
	if unchanged, err := s.Import(context.Background(), "x.tar", f, hexsum, o, nil); err != nil || !unchanged {
		t.Fatalf("second import: unchanged %v, %v", unchanged, err)
	}
	o2 := o
	o2.Digest = "sha256:" + wrong
	if _, err := s.Import(context.Background(), "x.tar", f, hexsum, o2, nil); !errors.Is(err, ErrExist) {
		t.Fatalf("import over an image of another digest: %v", err)
	}
	os.Remove(s.ImagePath("x.tar"))
	os.WriteFile(s.ImagePath("x.tar"), []byte("by hand"), 0o600)
	if _, ok := s.Origin("x.tar"); ok {
		t.Fatal("an image replaced by hand kept its origin")
	}
	var sb []byte
	n, hs, err := s.Export(context.Background(), "x.tar", writerFunc(func(p []byte) { sb = append(sb, p...) }))
	if err != nil || n != 7 || string(sb) != "by hand" || len(hs) != 64 {
		t.Fatalf("export: %d %s %v %q", n, hs, err, sb)
	}
}

// TestRemotes: the predefined server, add (a bad URL refused), rm.
func TestRemotes(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := s.Remotes()
	if len(rs) != 1 || rs[0].Name != "images" {
		t.Fatalf("predefined: %v", rs)
	}
	for _, bad := range []string{"ftp://x", "file:///etc", "https://", "https://h/?q=1", "not a url"} {
		if err := s.AddRemote("mine", bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("add %q: %v", bad, err)
		}
	}
	if err := s.AddRemote("mine", "https://mirror.example.invalid/images/"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRemote("mine", "https://other.invalid"); !errors.Is(err, ErrExist) {
		t.Fatalf("add twice: %v", err)
	}
	if err := s.RemoveRemote("images"); err != nil {
		t.Fatal(err)
	}
	rs, _ = s.Remotes()
	if len(rs) != 1 || rs[0] != (Remote{"mine", "https://mirror.example.invalid/images"}) {
		t.Fatalf("after add and rm: %v", rs)
	}
}

type writerFunc func([]byte)

func (w writerFunc) Write(p []byte) (int, error) { w(p); return len(p), nil }

// TestImportLayout: a streamed layout archive is published only when
// every blob is its digest, every member belongs to a layout, and the
// index names the manifest it was pulled for.
func TestImportLayout(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blob := func(data string) (string, archivetest.Entry) {
		sum := sha256.Sum256([]byte(data))
		h := hex.EncodeToString(sum[:])
		return h, archivetest.File("blobs/sha256/"+h, data)
	}
	manifest, manifestEntry := blob(`{"schemaVersion":2}`)
	_, layer := blob("layer bytes")
	index := archivetest.File("index.json", `{"schemaVersion":2,"manifests":[{"digest":"sha256:`+manifest+`"}]}`)
	layout := archivetest.File("oci-layout", `{"imageLayoutVersion":"1.0.0"}`)
	o := Origin{Source: "docker://r/x:1", Digest: "sha256:" + manifest}
	bad := layer
	bad.Data = "not the layer"
	for name, entries := range map[string][]archivetest.Entry{
		"a blob that is not its digest": {layout, index, manifestEntry, bad},
		"a member of no layout":         {layout, index, manifestEntry, archivetest.File("etc/passwd", "x")},
		"a symlink":                     {layout, index, manifestEntry, archivetest.Symlink("blobs/sha256/"+strings.Repeat("a", 64), "/etc/shadow")},
		"a member twice":                {layout, index, manifestEntry, layer, layer},
		"no manifest":                   {layout, index, layer},
		"another manifest":              {layout, archivetest.File("index.json", `{"manifests":[{"digest":"sha256:`+strings.Repeat("b", 64)+`"}]}`), manifestEntry},
		"no oci-layout":                 {index, manifestEntry},
	} {
		_, err := s.ImportLayout(context.Background(), "x.oci.tar", bytes.NewReader(archivetest.Tar(t, entries...)), o, nil)
		if !errors.Is(err, ErrBadImage) {
			t.Errorf("%s: %v, want ErrBadImage", name, err)
		}
	}
	good := archivetest.Tar(t, layout, index, manifestEntry, layer)
	trailing := append(append([]byte{}, good...), make([]byte, 2<<20)...)
	if _, err := s.ImportLayout(context.Background(), "x.oci.tar", bytes.NewReader(trailing), o, nil); !errors.Is(err, ErrBadImage) {
		t.Errorf("2 MiB past the end: %v", err)
	}
	if imgs, _ := s.Images(); len(imgs) != 0 {
		t.Fatalf("refused layouts left %v", imgs)
	}
	if unchanged, err := s.ImportLayout(context.Background(), "x.oci.tar", bytes.NewReader(good), o, nil); err != nil || unchanged {
		t.Fatalf("a good layout: %v", err)
	}
	if got, _ := os.ReadFile(s.ImagePath("x.oci.tar")); !bytes.Equal(got, good) {
		t.Fatal("the image is not the stream as it came")
	}
	if unchanged, err := s.ImportLayout(context.Background(), "x.oci.tar", bytes.NewReader(good), o, nil); err != nil || !unchanged {
		t.Fatalf("the same again: unchanged %v, %v", unchanged, err)
	}
}
