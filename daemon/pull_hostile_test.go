package daemon_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"initns/internal/archivetest"
	"initns/internal/ptytest"
	"initns/proto"
)

// TestPullHostile: servers that lie, loop, stall or point outside their
// tree, and a registry that announces a thousand layers. Each pull ends
// in a clear error, images/ stays empty and the daemon keeps serving.
func TestPullHostile(t *testing.T) {
	t.Parallel()
	e := startDaemon(t)
	e.clientEnv = []string{"XDG_CACHE_HOME=" + t.TempDir()}
	body := make([]byte, 1<<20)
	rand.Read(body)
	sum := sha256.Sum256(body)
	good := hex.EncodeToString(sum[:])
	arch := streamsArchOf()
	srv, mux := streamsServer(t, []streamsItem{{version: "1", arch: arch, path: "larger/root.tar.xz", data: body, size: int64(len(body)) - 100}})
	outside, _ := streamsServer(t, []streamsItem{{version: "1", arch: arch, path: "../../outside/root.tar.xz", data: body}})
	absolute, _ := streamsServer(t, []streamsItem{{version: "1", arch: arch, path: "http://127.0.0.1:1/evil.tar.xz", data: body}})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/truncated", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2])
		hijackClose(w)
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:1000])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	})
	e.ok("remote", "add", "larger", srv.URL)
	e.ok("remote", "add", "outside", outside.URL)
	e.ok("remote", "add", "absolute", absolute.URL)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"wrong digest", []string{"pull", "--sha256", strings.Repeat("ab", 32), srv.URL + "/file"}, "digest mismatch"},
		{"truncated", []string{"pull", "--sha256", good, srv.URL + "/truncated"}, "pull again to resume"},
		{"larger than announced", []string{"pull", "larger:testos/1"}, "announces"},
		{"redirect loop", []string{"pull", "--sha256", good, srv.URL + "/loop"}, "redirect loop"},
		{"stall", []string{"pull", "--timeout", "1s", "--sha256", good, srv.URL + "/stall"}, "sent nothing for 1s"},
		{"index outside its tree", []string{"pull", "outside:testos/1"}, "outside the server's tree"},
		{"absolute URL in the index", []string{"pull", "absolute:testos/1"}, "outside the server's tree"},
		{"no checksum", []string{"pull", srv.URL + "/file"}, "give --sha256"},
	}
	for _, c := range cases {
		start := time.Now()
		r := e.client(c.args...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) || !strings.HasPrefix(r.stderr, "initns: pull") {
			t.Errorf("%s: exit %d, %q; want exit 1 and %q", c.name, r.code, r.stderr, c.want)
		}
		t.Logf("%s: %s in %v", c.name, strings.TrimSpace(r.stderr), time.Since(start).Round(time.Millisecond))
		noImages(t, e)
	}

	// A name that is not an image name is refused before any download.
	e.refused(2, "image name", "pull", "--sha256", good, srv.URL+"/file", "../escape")
	noImages(t, e)

	// A registry announcing a thousand layers is refused before any is
	// fetched.
	var fetched sync.Map
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Store(r.URL.Path, true)
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case strings.Contains(r.URL.Path, "/manifests/"):
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Write(thousandLayers())
		default:
			http.NotFound(w, r)
		}
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	e.refused(1, "1000 layers", "pull", "docker://"+host+"/many/layers:latest")
	fetched.Range(func(k, _ any) bool {
		if strings.Contains(k.(string), "/blobs/") {
			t.Errorf("a blob was fetched (%s) before the layer count was checked", k)
		}
		return true
	})
	noImages(t, e)

	// A SHA256SUMS beside the file is what a URL needs: the same body is
	// then published.
	mux.HandleFunc("/sums/SHA256SUMS", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s  other.tar\n%s *good.tar\n", strings.Repeat("0", 64), good)
	})
	mux.HandleFunc("/sums/good.tar", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	e.ok("pull", srv.URL+"/sums/good.tar")
	if got := imageSum(t, e, "good.tar"); got != good {
		t.Fatalf("pulled with SHA256SUMS: %s, want %s", got, good)
	}
}

func streamsArchOf() string {
	out, _ := exec.Command("dpkg", "--print-architecture").Output()
	if a := strings.TrimSpace(string(out)); a != "" {
		return a
	}
	return "amd64"
}

// thousandLayers is an OCI manifest of 1,000 layers.
func thousandLayers() []byte {
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{SchemaVersion: 2, MediaType: "application/vnd.oci.image.manifest.v1+json",
		Config: desc{"application/vnd.oci.image.config.v1+json", "sha256:" + strings.Repeat("1", 64), 2}}
	for i := range 1000 {
		m.Layers = append(m.Layers, desc{"application/vnd.oci.image.layer.v1.tar+gzip", fmt.Sprintf("sha256:%064x", i), 10})
	}
	b, _ := json.Marshal(m)
	return b
}

// hijackClose ends the connection under a handler without finishing the
// body it announced.
func hijackClose(w http.ResponseWriter) {
	w.(http.Flusher).Flush()
	if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
		c.Close()
	}
}

// TestPullResumes: Ctrl+C in the middle of a download, then the same
// pull resumes it with a Range request from where it stopped, and the
// image is whole.
func TestPullResumes(t *testing.T) {
	t.Parallel()
	e := startDaemon(t)
	cache := t.TempDir()
	e.clientEnv = []string{"XDG_CACHE_HOME=" + cache}
	body := make([]byte, 4<<20)
	rand.Read(body)
	sum := sha256.Sum256(body)
	hexsum := hex.EncodeToString(sum[:])
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		// 64 KiB every 20 ms: about 3 MB/s, slow enough to interrupt.
		http.ServeContent(&slowWriter{ResponseWriter: w}, r, "", time.Time{}, bytes.NewReader(body))
	}))
	defer srv.Close()
	url := srv.URL + "/big.tar"
	// On a terminal, as a person runs it: the progress bar is drawn.
	screen := ptytest.NewScreen(t)
	tty, err := os.OpenFile(screen.Slave, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	cmd := exec.Command(filepath.Join(e.bin, "initns"), "--socket", e.sock, "pull", "--sha256", hexsum, url)
	cmd.Env = append(os.Environ(), e.clientEnv...)
	cmd.Stderr = tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(cache, "initns", "partial", "sha256-"+hexsum)
	e.waitFor("half a megabyte downloaded", func() bool {
		fi, err := os.Stat(partial)
		return err == nil && fi.Size() > 512<<10
	})
	cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("Ctrl+C: %v", err)
	}
	screen.WaitShown(t, "interrupted: pull again to resume")
	if shown := screen.Shown(); !strings.Contains(shown, "pull [") || !strings.Contains(shown, "/s ETA ") {
		t.Fatalf("no progress bar with a rate on the terminal: %q", shown)
	}
	fi, err := os.Stat(partial)
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(body)) {
		t.Fatalf("after Ctrl+C the partial download is %v, %v", fi, err)
	}
	noImages(t, e)
	kept := fi.Size()
	e.ok("pull", "--sha256", hexsum, url)
	if got := imageSum(t, e, "big.tar"); got != hexsum {
		t.Fatalf("resumed image has SHA-256 %s, want %s", got, hexsum)
	}
	mu.Lock()
	defer mu.Unlock()
	if last := ranges[len(ranges)-1]; last != fmt.Sprintf("bytes=%d-", kept) {
		t.Fatalf("the second pull asked for %q, want bytes=%d- (requests: %q)", last, kept, ranges)
	}
	t.Logf("interrupted at %d of %d bytes; resumed with %q", kept, len(body), ranges[len(ranges)-1])
}

// slowWriter writes at most 64 KiB every 20 ms.
type slowWriter struct{ http.ResponseWriter }

func (s *slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 64<<10)
		m, err := s.ResponseWriter.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		s.ResponseWriter.(http.Flusher).Flush()
		time.Sleep(20 * time.Millisecond)
		p = p[k:]
	}
	return n, nil
}

// TestImportClientGone: a client that hangs up while the daemon waits on
// its pipe for the rest of a layout cancels the import at once, leaving
// nothing; one that passes no descriptor is told to use the client.
func TestImportClientGone(t *testing.T) {
	t.Parallel()
	e := startDaemon(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c, err := net.Dial("unix", e.sock)
	if err != nil {
		t.Fatal(err)
	}
	req := `{"cmd":"import","args":["x.oci.tar","oci-layout","docker://r/x:1","sha256:` + strings.Repeat("a", 64) + `"]}` + "\n"
	if _, _, err := c.(*net.UnixConn).WriteMsgUnix([]byte(req), syscall.UnixRights(int(r.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Write(archivetest.Tar(t, archivetest.File("oci-layout", "{}"))[:1024]) // a start, then nothing
	scratch := filepath.Join(e.root, "scratch")
	e.waitFor("the import to start writing", func() bool { ents, _ := os.ReadDir(scratch); return len(ents) > 0 })
	start := time.Now()
	c.Close()
	e.waitFor("the log to say the import was cancelled", func() bool {
		log, _ := os.ReadFile(filepath.Join(e.root, "log"))
		return strings.Contains(string(log), "command=import") && strings.Contains(string(log), "cancelled=")
	})
	t.Logf("cancelled %v after the hangup", time.Since(start).Round(time.Millisecond))
	e.waitFor("scratch to be empty", func() bool { ents, _ := os.ReadDir(scratch); return len(ents) == 0 })
	noImages(t, e)
	c2, err := net.Dial("unix", e.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte(`{"cmd":"import","args":["x.tar","` + strings.Repeat("a", 64) + `","s","d"]}` + "\n"))
	var rep proto.Reply
	if err := json.NewDecoder(c2).Decode(&rep); err != nil || rep.Code != proto.CodeUsage || !strings.Contains(rep.Error, "use the initns client") {
		t.Fatalf("import without a descriptor: %+v, %v", rep, err)
	}
}
