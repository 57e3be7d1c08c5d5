package fetch

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestInside(t *testing.T) {
	for rel, ok := range map[string]bool{
		"images/debian/12/root.tar.xz": true,
		"streams/v1/images.json":       true,
		"a/../b":                       true,
		"../x":                         false,
		"a/../../x":                    false,
		"..":                           false,
		"/etc/passwd":                  false,
		"http://elsewhere/x":           false,
		"x?y=1":                        false,
		"":                             false,
		`a\..\..\x`:                    false,
	} {
		u, err := inside("https://srv.invalid/base/", rel)
		if (err == nil) != ok {
			t.Errorf("inside(%q) = %q, %v; want ok %v", rel, u, err, ok)
		}
		if ok && !strings.HasPrefix(u, "https://srv.invalid/base/") {
			t.Errorf("inside(%q) = %q, outside the base", rel, u)
		}
	}
}

// TestPickItem: the newest version with a root filesystem item, for the
// architecture asked; another architecture's is named in the error.
func TestPickItem(t *testing.T) {
	var p streamsProducts
	err := jsonUnmarshal(`{"products":{
		"d:12:amd64": {"aliases":"debian/12/default,debian/12","arch":"amd64","versions":{
			"20240101_05:24":{"items":{"root":{"ftype":"root.tar.xz","path":"old","size":1,"sha256":"a"}}},
			"20240301_05:24":{"items":{"root":{"ftype":"root.tar.xz","path":"new","size":1,"sha256":"b"},"sq":{"ftype":"squashfs","path":"sq"}}},
			"20240401_05:24":{"items":{"meta":{"ftype":"lxd.tar.xz","path":"meta-only"}}}}},
		"d:12:arm64": {"aliases":"debian/12","arch":"arm64","versions":{
			"20240501_05:24":{"items":{"root":{"ftype":"rootfs.tar.xz","path":"arm","size":1,"sha256":"c"}}}}},
		"d:11:amd64": {"aliases":"debian/11","arch":"amd64","versions":{
			"20250101_05:24":{"items":{"root":{"ftype":"root.tar.xz","path":"eleven","size":1,"sha256":"d"}}}}}}}`, &p)
	if err != nil {
		t.Fatal(err)
	}
	if it, v, err := pickItem(p, "debian/12", "amd64"); err != nil || it.Path != "new" || v != "20240301_05:24" {
		t.Errorf("amd64: %+v %s %v", it, v, err)
	}
	if it, _, err := pickItem(p, "debian/12", "arm64"); err != nil || it.Path != "arm" {
		t.Errorf("arm64: %+v %v", it, err)
	}
	if _, _, err := pickItem(p, "debian/11", "arm64"); err == nil || !strings.Contains(err.Error(), "amd64") {
		t.Errorf("debian/11 on arm64: %v, want the other architecture named", err)
	}
	if _, _, err := pickItem(p, "debian", "amd64"); err == nil {
		t.Error("a partial alias matched")
	}
}

func TestFindSumAndSanitize(t *testing.T) {
	sums := strings.Repeat("a", 64) + "  other.tar\n" + strings.Repeat("b", 64) + " *root.tar.gz\nnot a line\n"
	if got := findSum([]byte(sums), "root.tar.gz"); got != strings.Repeat("b", 64) {
		t.Errorf("findSum: %q", got)
	}
	if got := findSum([]byte(sums), "missing"); got != "" {
		t.Errorf("findSum of a missing name: %q", got)
	}
	for in, want := range map[string]string{"debian/12:x": "debian-12-x", "..evil": "evil", "": "image", "-a": "a"} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDownloadResume: a partial file is resumed with a Range request; a
// server that ignores the range is read from the start; a complete,
// verified file is not fetched again; a wrong digest keeps nothing.
func TestDownloadResume(t *testing.T) {
	body := make([]byte, 1<<20)
	rand.Read(body)
	sum := sha256.Sum256(body)
	hexsum := hex.EncodeToString(sum[:])
	var ignoreRange atomic.Bool
	var lastRange atomic.Value
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		lastRange.Store(r.Header.Get("Range"))
		if ignoreRange.Load() {
			w.Write(body)
			return
		}
		http.ServeContent(w, r, "", zeroTime, strings.NewReader(string(body)))
	}))
	defer srv.Close()
	o := &Options{Cache: t.TempDir()}
	b := blob{url: srv.URL, sha256: hexsum, size: int64(len(body)), client: o.client()}
	for _, ignore := range []bool{false, true} {
		ignoreRange.Store(ignore)
		os.MkdirAll(o.Cache+"/partial", 0o700)
		os.WriteFile(o.partialPath(hexsum), body[:1000], 0o600)
		var counted int64
		p, err := o.download(context.Background(), b, func(n int64) { counted += n })
		if err != nil {
			t.Fatalf("ignore range %v: %v", ignore, err)
		}
		if got, _ := os.ReadFile(p); string(got) != string(body) {
			t.Fatalf("ignore range %v: the file is not the body", ignore)
		}
		if lastRange.Load() != "bytes=1000-" || counted != int64(len(body)) {
			t.Fatalf("ignore range %v: asked %q, counted %d", ignore, lastRange.Load(), counted)
		}
	}
	n := requests.Load()
	if _, err := o.download(context.Background(), b, func(int64) {}); err != nil || requests.Load() != n {
		t.Fatalf("a complete download was fetched again: %v, %d requests", err, requests.Load()-n)
	}
	// A whole file of unknown size (a URL whose publishing failed): the
	// server refuses the range past its end, and the file stands.
	whole := b
	whole.size = -1
	if p, err := o.download(context.Background(), whole, func(int64) {}); err != nil || lastRange.Load() != "bytes=1048576-" {
		t.Fatalf("a whole file of unknown size: %q, %v (asked %q)", p, err, lastRange.Load())
	}
	bad := b
	bad.sha256 = strings.Repeat("0", 64)
	if _, err := o.download(context.Background(), bad, func(int64) {}); !errors.Is(err, ErrDigest) {
		t.Fatalf("wrong digest: %v", err)
	}
	if _, err := os.Stat(o.partialPath(bad.sha256)); err == nil {
		t.Fatal("a download of the wrong digest was kept")
	}
}

// TestPruneStale: a partial download untouched for a week goes, unless a
// pull holds it; a recent one stays for its resume.
func TestPruneStale(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	old := now.Add(-staleAfter - time.Hour)
	for name, mtime := range map[string]time.Time{"sha256-old": old, "sha256-held": old, "sha256-recent": now.Add(-staleAfter + time.Hour)} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("part"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	held, err := os.Open(filepath.Join(dir, "sha256-held"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := unix.Flock(int(held.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	pruneStale(dir, now)
	for name, want := range map[string]bool{"sha256-old": false, "sha256-held": true, "sha256-recent": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", name, err == nil, want)
		}
	}
}

// TestLockPartial: a partial download is made if missing and locked; a
// second pull of it is refused while the first holds it, and takes it
// once the first let it go.
func TestLockPartial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sha256-x")
	first, err := lockPartial(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockPartial(path); err == nil || !strings.Contains(err.Error(), "another pull") {
		t.Fatalf("a second pull of a held download: %v, want a refusal", err)
	}
	first.Close()
	second, err := lockPartial(path)
	if err != nil {
		t.Fatalf("after the first let go: %v", err)
	}
	second.Close()
}

var zeroTime time.Time

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
