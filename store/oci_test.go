package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mtManifest is image-spec's media type of an image manifest.
const mtManifest = "application/vnd.oci.image.manifest.v1+json"

// ociLayers are three layers exercising whiteouts, opaque directories,
// type changes across layers, and a hard link to a lower layer's file;
// each compressed differently.
func ociTestLayers(t *testing.T) [][]byte {
	l1 := makeTar(t, dir("etc/"), file("etc/hostname", "one\n"), file("etc/passwd", "root:x:0:0\n"),
		dir("usr/"), dir("usr/share/"), dir("usr/share/doc/"), file("usr/share/doc/a", "a"), file("usr/share/doc/b", "b"),
		dir("opt/"), dir("opt/x/"), file("opt/x/keep", "k"), file("opt/x/drop", "d"),
		dir("var/"), dir("var/run/"), file("var/run/pid", "1"), dir("bin/"), file("bin/tool", "tool"),
		file("etc/motd", "m"))
	l2 := makeTar(t, file("etc/.wh.passwd", ""), file("usr/share/doc/c", "c"), file("usr/share/doc/.wh..wh..opq", ""),
		file("etc/hostname", "two\n"), symlink("var/run", "../run"), file("opt/.wh.x", ""),
		dir("etc/motd/"), file("etc/motd/now-a-dir", "x"))
	l3 := makeTar(t, hardlink("bin/tool2", "bin/tool"), dir("opt/x/"), file("opt/x/new", "n"))
	return [][]byte{gzipBytes(l1), zstdBytes(l2), l3}
}

func digestOf(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// writeOCILayout writes an OCI image layout of layers into dir.
func writeOCILayout(t *testing.T, dir string, layers [][]byte) {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	must(t, os.MkdirAll(blobs, 0o755))
	put := func(b []byte) string {
		d := digestOf(b)
		must(t, os.WriteFile(filepath.Join(blobs, strings.TrimPrefix(d, "sha256:")), b, 0o644))
		return d
	}
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}`)
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int    `json:"size"`
	}
	m := map[string]any{"schemaVersion": 2, "mediaType": mtManifest,
		"config": desc{"application/vnd.oci.image.config.v1+json", put(config), len(config)}}
	var ls []desc
	for i, l := range layers {
		mt := []string{"application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.oci.image.layer.v1.tar"}[i%3]
		ls = append(ls, desc{mt, put(l), len(l)})
	}
	m["layers"] = ls
	mb, _ := json.Marshal(m)
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []desc{{mtManifest, put(mb), len(mb)}}})
	must(t, os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
}

// writeDockerSave writes a legacy `docker save` archive of layers.
func writeDockerSave(t *testing.T, path string, layers [][]byte) {
	var es []entry
	var names []string
	for i, l := range layers {
		id := strings.Repeat(string(rune('a'+i)), 64)
		es = append(es, dir(id+"/"), file(id+"/VERSION", "1.0"), file(id+"/layer.tar", string(l)))
		names = append(names, id+"/layer.tar")
	}
	mj, _ := json.Marshal([]map[string]any{{"Config": "cfg.json", "RepoTags": []string{"x:latest"}, "Layers": names}})
	es = append(es, file("cfg.json", "{}"), file("manifest.json", string(mj)))
	must(t, os.WriteFile(path, makeTar(t, es...), 0o600))
}

func checkOCITree(t *testing.T, root string) {
	t.Helper()
	p := func(rel string) string { return filepath.Join(root, rel) }
	if got := readFile(t, p("etc/hostname")); got != "two\n" {
		t.Errorf("etc/hostname %q, want the upper layer's", got)
	}
	for _, gone := range []string{"etc/passwd", "usr/share/doc/a", "usr/share/doc/b", "opt/x/keep", "opt/x/drop", "etc/.wh.passwd", "usr/share/doc/.wh..wh..opq", "opt/.wh.x"} {
		if _, err := os.Lstat(p(gone)); !os.IsNotExist(err) {
			t.Errorf("%s should be gone: %v", gone, err)
		}
	}
	if got := readFile(t, p("usr/share/doc/c")); got != "c" {
		t.Errorf("the opaque directory lost its own layer's entry: %q", got)
	}
	if got, _ := os.Readlink(p("var/run")); got != "../run" {
		t.Errorf("var/run = %q, want the symlink that replaced the directory", got)
	}
	if got := readFile(t, p("etc/motd/now-a-dir")); got != "x" {
		t.Errorf("a file replaced by a directory: %q", got)
	}
	if got := readFile(t, p("opt/x/new")); got != "n" {
		t.Errorf("opt/x/new %q", got)
	}
	a, _ := os.Stat(p("bin/tool"))
	b, err := os.Stat(p("bin/tool2"))
	if err != nil || !os.SameFile(a, b) {
		t.Errorf("bin/tool2 is not a hard link of the lower layer's bin/tool: %v", err)
	}
	if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("root mode %v %v", fi.Mode(), err)
	}
}

func TestOCIImages(t *testing.T) {
	s := newOverlayStore(t)
	ctx := context.Background()
	layers := ociTestLayers(t)
	layout := s.ImagePath("layout")
	writeOCILayout(t, layout, layers)
	run(t, "tar", "-C", layout, "-cf", s.ImagePath("layout.tar"), "oci-layout", "index.json", "blobs")
	writeDockerSave(t, s.ImagePath("docker.tar"), layers)
	imgs, _ := s.Images()
	listed := map[string]bool{}
	for _, im := range imgs {
		listed[im.Name] = true
	}
	if !listed["layout"] || !listed["layout.tar"] || !listed["docker.tar"] {
		t.Errorf("Images() = %v, want the layout directory and both archives listed", imgs)
	}
	for _, img := range []string{"layout", "layout.tar", "docker.tar"} {
		name := strings.ReplaceAll(img, ".", "-")
		if err := s.New(ctx, name, img, nil); err != nil {
			t.Fatalf("New from %s: %v", img, err)
		}
		checkOCITree(t, s.RootfsPath(name))
		if err := s.NewOverlay(ctx, name+"-ov", img, nil); err != nil {
			t.Fatalf("NewOverlay from %s: %v", img, err)
		}
		checkOCITree(t, s.RootfsPath(name+"-ov"))
	}
}

func TestOCIMalformed(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	outside := filepath.Join(filepath.Dir(s.Root()), "outside")
	must(t, os.Mkdir(outside, 0o755))
	good := ociTestLayers(t)
	cases := []struct {
		name   string
		make   func(dir string)
		reason string
	}{
		{"corrupt-layer", func(d string) {
			writeOCILayout(t, d, good)
			p := filepath.Join(d, "blobs/sha256", strings.TrimPrefix(digestOf(good[2]), "sha256:"))
			data, _ := os.ReadFile(p)
			i := strings.Index(string(data), "\x00n\x00") + 1 // opt/x/new's content
			data[i] ^= 1
			os.WriteFile(p, data, 0o644)
		}, "does not match its digest"},
		{"bad-digest", func(d string) {
			writeOCILayout(t, d, good)
			os.WriteFile(filepath.Join(d, "index.json"), []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"`+mtManifest+`","digest":"sha256:../../../etc/passwd"}]}`), 0o644)
		}, "not sha256"},
		{"missing-blob", func(d string) {
			writeOCILayout(t, d, good)
			os.Remove(filepath.Join(d, "blobs/sha256", strings.TrimPrefix(digestOf(good[0]), "sha256:")))
		}, "blobs/sha256"},
		{"not-a-layout", func(d string) { os.MkdirAll(filepath.Join(d, "etc"), 0o755) }, "not an OCI image layout"},
		{"bad-json", func(d string) {
			writeOCILayout(t, d, good)
			os.WriteFile(filepath.Join(d, "index.json"), []byte(`{"manifests":[`), 0o644)
		}, "index.json is not valid JSON"},
		{"encrypted", func(d string) {
			writeOCILayout(t, d, good)
			idx, _ := os.ReadFile(filepath.Join(d, "index.json"))
			// index.json as writeOCILayout writes it (the engine's ociIndex).
			var ix struct {
				SchemaVersion int `json:"schemaVersion"`
				Manifests     []struct {
					MediaType string `json:"mediaType"`
					Digest    string `json:"digest"`
					Size      int64  `json:"size"`
				} `json:"manifests"`
			}
			json.Unmarshal(idx, &ix)
			p := filepath.Join(d, "blobs/sha256", strings.TrimPrefix(ix.Manifests[0].Digest, "sha256:"))
			m, _ := os.ReadFile(p)
			m = []byte(strings.Replace(string(m), "tar+zstd", "tar+zstd+encrypted", 1))
			os.Remove(p)
			ix.Manifests[0].Digest, ix.Manifests[0].Size = digestOf(m), int64(len(m))
			os.WriteFile(filepath.Join(d, "blobs/sha256", strings.TrimPrefix(digestOf(m), "sha256:")), m, 0o644)
			idx, _ = json.Marshal(ix)
			os.WriteFile(filepath.Join(d, "index.json"), idx, 0o644)
		}, "encrypted"},
		{"through-symlink", func(d string) {
			l1 := makeTar(t, symlink("evil", outside))
			l2 := makeTar(t, file("evil/planted", "x"))
			writeOCILayout(t, d, [][]byte{l1, l2})
		}, "symlink"},
		{"whiteout-through-symlink", func(d string) {
			must(t, os.WriteFile(filepath.Join(outside, "victim"), []byte("v"), 0o644))
			l1 := makeTar(t, symlink("evil", outside))
			l2 := makeTar(t, file("evil/.wh.victim", ""))
			writeOCILayout(t, d, [][]byte{l1, l2})
		}, "symlink"},
		{"dotdot", func(d string) {
			writeOCILayout(t, d, [][]byte{makeTar(t, file("a", "a")), makeTar(t, file("../escape", "x"))})
		}, ".."},
	}
	for _, c := range cases {
		img := "bad-" + c.name
		c.make(s.ImagePath(img))
		err := s.New(ctx, c.name, img, nil)
		if !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: %v, want ErrBadImage saying %q", c.name, err, c.reason)
		}
		if _, err := os.Lstat(s.RootfsPath(c.name)); !os.IsNotExist(err) {
			t.Errorf("%s: a root filesystem was left", c.name)
		}
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 || ents[0].Name() != "victim" || readFile(t, filepath.Join(outside, "victim")) != "v" {
		t.Errorf("something outside changed: %v", ents)
	}
	if ins, _ := s.Instances(); len(ins) != 0 {
		t.Errorf("instances registered: %v", ins)
	}
}
