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
	"testing"
	"time"
)

// streamsItem is a file a test image server publishes.
type streamsItem struct {
	version, arch, path string
	data                []byte
	size                int64 // announced; 0: the real one
}

// streamsServer serves a simplestreams tree in the format LXD and Incus
// image servers publish (streams/v1/index.json, then images.json), with
// the real SHA-256 of each item, for the product testos/1. The mux is
// returned so that a test can add hostile paths.
func streamsServer(t *testing.T, items []streamsItem) (*httptest.Server, *http.ServeMux) {
	t.Helper()
	mux := http.NewServeMux()
	type item struct {
		Ftype  string `json:"ftype"`
		Path   string `json:"path"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	}
	products := map[string]map[string]any{}
	for _, it := range items {
		sum := sha256.Sum256(it.data)
		size := int64(len(it.data))
		if it.size != 0 {
			size = it.size
		}
		key := "testos:1:" + it.arch + ":default"
		p, ok := products[key]
		if !ok {
			p = map[string]any{"aliases": "testos/1/default,testos/1", "arch": it.arch, "os": "testos", "release": "1", "versions": map[string]any{}}
			products[key] = p
		}
		p["versions"].(map[string]any)[it.version] = map[string]any{"items": map[string]item{
			"root.tar.xz": {Ftype: "root.tar.xz", Path: it.path, Size: size, SHA256: hex.EncodeToString(sum[:])},
			"lxd.tar.xz":  {Ftype: "lxd.tar.xz", Path: it.path + ".meta", Size: 3, SHA256: strings.Repeat("0", 64)},
		}}
		data := it.data
		if !strings.Contains(it.path, "..") && !strings.Contains(it.path, "://") {
			mux.HandleFunc("/"+it.path, func(w http.ResponseWriter, r *http.Request) {
				http.ServeContent(w, r, "", time.Time{}, strings.NewReader(string(data)))
			})
		}
	}
	index, _ := json.Marshal(map[string]any{"format": "index:1.0", "index": map[string]any{
		"images": map[string]any{"datatype": "image-downloads", "path": "streams/v1/images.json", "format": "products:1.0"}}})
	prods, _ := json.Marshal(map[string]any{"format": "products:1.0", "content_id": "images", "products": products})
	mux.HandleFunc("/streams/v1/index.json", func(w http.ResponseWriter, r *http.Request) { w.Write(index) })
	mux.HandleFunc("/streams/v1/images.json", func(w http.ResponseWriter, r *http.Request) { w.Write(prods) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, mux
}

// testImage is a busybox root filesystem with the test init and the file
// /etc/release holding release, as a .tar.xz.
func testImage(t *testing.T, e *env, release string) []byte {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"bin", "sbin", "etc", "tmp", "proc", "dev"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	copyFile(t, "/bin/busybox", filepath.Join(dir, "bin/busybox"))
	copyFile(t, filepath.Join(e.bin, "testinit"), filepath.Join(dir, "sbin/init"))
	os.WriteFile(filepath.Join(dir, "etc/release"), []byte(release), 0o644)
	out := filepath.Join(t.TempDir(), "root.tar.xz")
	cmd := exec.Command("tar", "-cJf", out, "--numeric-owner", "-C", dir, ".")
	cmd.Env = append(os.Environ(), "XZ_OPT=-0") // fast: the test is not about xz
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestPullSimplestreams: an image server built from the test's own
// images: pull by alias takes the newest version for this machine, by
// alias/ARCH another architecture's; remotes are added and removed.
func TestPullSimplestreams(t *testing.T) {
	t.Parallel()
	e := startDaemon(t)
	e.clientEnv = []string{"XDG_CACHE_HOME=" + t.TempDir()}
	arch := map[string]string{"amd64": "amd64", "arm64": "arm64"}[runtime.GOARCH]
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	old, newer, foreign := testImage(t, e, "old"), testImage(t, e, "newer"), testImage(t, e, "foreign")
	srv, _ := streamsServer(t, []streamsItem{
		{version: "20240101_05:24", arch: arch, path: "images/testos/1/old/root.tar.xz", data: old},
		{version: "20240202_05:24", arch: arch, path: "images/testos/1/newer/root.tar.xz", data: newer},
		{version: "20240303_05:24", arch: other, path: "images/testos/1/foreign/root.tar.xz", data: foreign},
	})
	e.refused(1, "no image server called test", "pull", "test:testos/1")
	e.ok("remote", "add", "test", srv.URL)
	if out := e.ok("remote", "ls"); !strings.Contains(out, srv.URL) || !strings.Contains(out, "images.linuxcontainers.org") {
		t.Fatalf("remote ls: %q", out)
	}
	e.ok("pull", "test:testos/1")
	imgs := e.list().Images
	if len(imgs) != 1 || imgs[0].Source != "test:testos/1" || !strings.Contains(imgs[0].Name, "20240202") {
		t.Fatalf("pull by alias: %+v", imgs)
	}
	if got, want := imageSum(t, e, imgs[0].Name), sha256.Sum256(newer); got != hex.EncodeToString(want[:]) || imgs[0].Digest != "sha256:"+got {
		t.Fatalf("pulled %s (ls: %s), the newest version is %x", got, imgs[0].Digest, want)
	}
	if out := e.ok("pull", "test:testos/1"); !strings.Contains(out, "already there") {
		t.Fatalf("the same pull again: %q", out)
	}
	e.ok("new", "box", imgs[0].Name)
	if data, _ := os.ReadFile(filepath.Join(e.rootfs("box"), "etc/release")); string(data) != "newer" {
		t.Fatalf("box has release %q", data)
	}
	e.ok("run", "box")
	e.waitReport("box")
	e.ok("stop", "box")

	e.ok("pull", "test:testos/1/"+other, "foreign.tar.xz")
	e.ok("new", "foreign", "foreign.tar.xz")
	if data, _ := os.ReadFile(filepath.Join(e.rootfs("foreign"), "etc/release")); string(data) != "foreign" {
		t.Fatalf("alias/%s gave release %q", other, data)
	}
	e.refused(1, "no image testos/2", "pull", "test:testos/2")
	e.ok("remote", "rm", "test")
	e.refused(1, "no image server called test", "pull", "test:testos/1")
}
