package daemon_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"initns/internal/archivetest"
	"initns/proto"
)

// TestPullPushRegistry: an image pushed to a real registry (TLS from a
// test CA, basic auth) from one state root is pulled into a fresh one,
// made into an instance that boots, with the same tree; ls names where it
// came from; a second pull is a no-op; the pulled OCI layout is pushed as
// it is (same manifest digest); a pull without credentials is refused
// with nothing left.
func TestPullPushRegistry(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	a := startDaemon(t)
	a.clientEnv = reg.clientEnv(t, false)
	a.image("test.tar.gz", false, map[string]string{"etc/motd": "pushed from a\n", "etc/link": "symlink:motd"})
	ref := "docker://" + reg.addr + "/initns/test:"
	ref1 := ref + "1"
	out := a.ok("push", "test.tar.gz", ref1)
	if !strings.Contains(out, "sha256:") {
		t.Fatalf("push printed %q, no digest", out)
	}
	a.ok("new", "box", "test.tar.gz")

	b := startDaemon(t)
	b.clientEnv = reg.clientEnv(t, false)
	b.ok("pull", ref1)
	imgs := b.list().Images
	if len(imgs) != 1 || imgs[0].Name != "test-1.oci.tar" || imgs[0].Source != ref1 || !strings.HasPrefix(imgs[0].Digest, "sha256:") {
		t.Fatalf("images after pull: %+v", imgs)
	}
	if !strings.Contains(b.ok("ls"), ref1) {
		t.Fatal("ls does not show where the image came from")
	}
	if out := b.ok("pull", ref1); !strings.Contains(out, "already there") {
		t.Fatalf("second pull: %q", out)
	}
	b.ok("new", "box", "test-1.oci.tar")
	if want, got := archivetest.Describe(t, a.rootfs("box")), archivetest.Describe(t, b.rootfs("box")); want != got {
		t.Fatalf("pulled tree differs from the pushed one:\n%s", archivetest.DiffLines(want, got))
	}
	b.ok("run", "box")
	b.waitReport("box")
	b.ok("stop", "box")

	// zstd and xz tarballs: a zstd layer as it is, an xz one recompressed
	// with gzip (no registry media type carries xz); the same tree back.
	for _, f := range []struct{ name, sh string }{
		{"test.tar.zst", "gzip -dc test.tar.gz | zstd -q -o test.tar.zst"},
		{"test.tar.xz", "gzip -dc test.tar.gz | xz -0 > test.tar.xz"},
	} {
		cmd := exec.Command("sh", "-c", f.sh)
		cmd.Dir = filepath.Join(a.root, "images")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", f.sh, err, out)
		}
		tag := strings.TrimPrefix(filepath.Ext(f.name), ".")
		a.ok("push", f.name, ref+tag)
		b.ok("pull", ref+tag, tag+".oci.tar")
		b.ok("new", tag, tag+".oci.tar")
		if want, got := archivetest.Describe(t, a.rootfs("box")), archivetest.Describe(t, b.rootfs(tag)); want != got {
			t.Fatalf("%s pushed and pulled back differs:\n%s", f.name, archivetest.DiffLines(want, got))
		}
	}

	// An OCI layout is pushed as it is: the registry gets the same manifest.
	ref2 := "docker://" + reg.addr + "/initns/again:2"
	if out := b.ok("push", "test-1.oci.tar", ref2); !strings.Contains(out, imgs[0].Digest) {
		t.Fatalf("push of the pulled layout printed %q, want the digest %s", out, imgs[0].Digest)
	}
	// By digest, into a third state root, anonymously: refused.
	c := startDaemon(t)
	c.clientEnv = reg.clientEnv(t, true)
	byDigest := "docker://" + reg.addr + "/initns/again@" + imgs[0].Digest
	c.refused(1, "credentials", "pull", byDigest)
	if l := c.list(); len(l.Images) != 0 {
		t.Fatalf("a refused pull left %+v", l.Images)
	}
	c.clientEnv = reg.clientEnv(t, false)
	c.ok("pull", byDigest, "again.oci.tar")
	if l := c.list(); len(l.Images) != 1 || l.Images[0].Digest != imgs[0].Digest {
		t.Fatalf("pull by digest: %+v", l.Images)
	}
	// The cache keeps nothing of a finished pull.
	checkCacheEmpty(t, c.clientEnv)
}

// checkCacheEmpty fails unless the client's cache holds no file (empty
// directories are fine).
func checkCacheEmpty(t *testing.T, env []string) {
	t.Helper()
	for _, kv := range env {
		if dir, ok := strings.CutPrefix(kv, "XDG_CACHE_HOME="); ok {
			filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() {
					t.Errorf("the cache keeps %s after a finished pull", p)
				}
				return nil
			})
		}
	}
}

// imageSum is the SHA-256 of an image file in a state root.
func imageSum(t *testing.T, e *env, name string) string {
	data, err := os.ReadFile(filepath.Join(e.root, "images", name))
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// noImages asserts images/ holds nothing and the daemon answers.
func noImages(t *testing.T, e *env) {
	t.Helper()
	var l proto.List = e.list()
	if len(l.Images) != 0 {
		t.Fatalf("images/ holds %+v after a refused pull", l.Images)
	}
	ents, _ := os.ReadDir(filepath.Join(e.root, "images"))
	for _, en := range ents {
		if !strings.HasPrefix(en.Name(), ".") {
			t.Fatalf("images/ holds %s", en.Name())
		}
	}
}

// TestPullThroughProxy: the client's HTTP_PROXY carries the download (the
// host it names does not even resolve).
func TestPullThroughProxy(t *testing.T) {
	t.Parallel()
	e := startDaemon(t)
	body := []byte("a root filesystem, as far as the proxy test cares")
	sum := sha256.Sum256(body)
	var asked []string
	var mu sync.Mutex
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.String())
		mu.Unlock()
		w.Write(body)
	}))
	defer proxy.Close()
	e.clientEnv = []string{"XDG_CACHE_HOME=" + t.TempDir(), "HTTP_PROXY=" + proxy.URL, "http_proxy=" + proxy.URL, "NO_PROXY=", "no_proxy="}
	e.ok("pull", "--sha256", hex.EncodeToString(sum[:]), "http://images.invalid/root.tar")
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[0] != "http://images.invalid/root.tar" {
		t.Fatalf("the proxy was asked %q", asked)
	}
	if got := imageSum(t, e, "root.tar"); got != hex.EncodeToString(sum[:]) {
		t.Fatal("the image is not what the proxy served")
	}
}

// ociLayoutDir writes an OCI image layout directory at dir whose image
// has the given layers (gzipped tars, bottom first).
func ociLayoutDir(t *testing.T, dir string, layers [][]byte) {
	t.Helper()
	blob := func(data []byte) map[string]any {
		s := sha256.Sum256(data)
		h := hex.EncodeToString(s[:])
		os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", h), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"digest": "sha256:" + h, "size": len(data)}
	}
	var descs []map[string]any
	var diffIDs []string
	for _, l := range layers {
		d := blob(archivetest.Gzip(l))
		d["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
		descs = append(descs, d)
		s := sha256.Sum256(l)
		diffIDs = append(diffIDs, "sha256:"+hex.EncodeToString(s[:]))
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": runtime.GOARCH, "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	c := blob(cfg)
	c["mediaType"] = "application/vnd.oci.image.config.v1+json"
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": c, "layers": descs})
	m := blob(man)
	m["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{m}})
	os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

// TestPushLayoutDir: an OCI layout directory in images/ of three layers
// (the second deletes a file of the first) is pushed as it is and pulled
// back, its layers fetched in parallel, and new applies them in order.
func TestPushLayoutDir(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	e := startDaemon(t)
	e.clientEnv = reg.clientEnv(t, false)
	ociLayoutDir(t, filepath.Join(e.root, "images", "layered"), [][]byte{
		archivetest.Tar(t, archivetest.Dir("etc"), archivetest.File("etc/one", "1"), archivetest.File("etc/gone", "x")),
		archivetest.Tar(t, archivetest.File("etc/.wh.gone", ""), archivetest.File("etc/two", "2")),
		archivetest.Tar(t, archivetest.File("etc/three", "3")),
	})
	ref := "docker://" + reg.addr + "/initns/layered:1"
	out := e.ok("push", "layered", ref)
	e.ok("pull", ref, "pulled.oci.tar")
	imgs := e.list().Images
	if len(imgs) != 2 || imgs[1].Name != "pulled.oci.tar" || !strings.Contains(out, imgs[1].Digest) {
		t.Fatalf("push printed %q; images %+v", out, imgs)
	}
	e.ok("new", "box", "pulled.oci.tar")
	for f, want := range map[string]string{"etc/one": "1", "etc/two": "2", "etc/three": "3"} {
		if got, _ := os.ReadFile(filepath.Join(e.rootfs("box"), f)); string(got) != want {
			t.Errorf("%s: %q, want %q", f, got, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(e.rootfs("box"), "etc/gone")); err == nil {
		t.Error("the whiteout of the second layer was not applied")
	}
}
