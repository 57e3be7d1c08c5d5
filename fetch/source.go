package fetch

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
)

// Plan is a source resolved to what will be downloaded: its digest is
// known before a byte of the image is fetched, so a pull of what is
// already there costs one look at the index or manifest.
type Plan struct {
	Source string // as the user named it
	Digest string // sha256:HEX: the file's, or an OCI image's manifest
	Name   string // the image name it gets unless the user gives one
	Size   int64  // bytes to download; -1 if unknown
	fetch  func(ctx context.Context, o *Options, counted func(int64)) (Download, error)
}

// Download is a Plan fetched into the cache: a verified file to publish,
// or (an OCI image) verified layers to stream as a layout archive.
type Download struct {
	File   string // the verified file to publish, or ""
	SHA256 string // its SHA-256, hex
	// WriteLayout writes the OCI image layout archive of a pulled OCI
	// image (File ""): streamed to the daemon, it needs no second copy of
	// the layers in the cache.
	WriteLayout func(w io.Writer) error
	Cached      []string // every file of the cache it used, to Forget once the image is published
}

// Fetch downloads the plan into the cache. An interrupted Fetch leaves
// its partial downloads for the next one to resume; it removes the ones
// older than a week first (pruneStale).
func (p *Plan) Fetch(ctx context.Context, o *Options) (Download, error) {
	o.pruneStale()
	var done int64
	total := p.Size
	counted := func(n int64) {
		done += n
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	// A file whose source announces no size (a URL) takes the server's
	// Content-Length, for the progress bar's percentage and ETA.
	o.announce = func(n int64) {
		if p.Size < 0 {
			total = n
		}
	}
	return p.fetch(ctx, o, counted)
}

// Forget removes the cache's copies once the image is published.
func Forget(files []string) {
	for _, f := range files {
		if f != "" {
			os.Remove(f)
		}
	}
}

// Resolve turns what the user named into a Plan: docker://REF, an
// http(s) URL (with sha256, hex, or a SHA256SUMS file beside it), or
// REMOTE:ALIAS of one of remotes (name to base URL).
func (o *Options) Resolve(ctx context.Context, source, sha256hex string, remotes map[string]string) (*Plan, error) {
	switch {
	case strings.HasPrefix(source, "docker://"):
		return o.resolveOCI(ctx, source)
	case strings.HasPrefix(source, "https://"), strings.HasPrefix(source, "http://"):
		return o.resolveURL(ctx, source, sha256hex)
	}
	remote, alias, ok := strings.Cut(source, ":")
	if !ok {
		return nil, fmt.Errorf("%s: say REMOTE:ALIAS (images:debian/12), docker://REGISTRY/REPO:TAG or an http(s) URL", source)
	}
	base, ok := remotes[remote]
	if !ok {
		return nil, fmt.Errorf("%s: no image server called %s: see initns remote ls (an OCI reference starts with docker://)", source, remote)
	}
	return o.resolveStreams(ctx, source, base, alias)
}

func (o *Options) client() *http.Client { return &http.Client{Transport: o.transport()} }

// getSmall fetches a small document (an index, a checksum file) whole, at
// most limit bytes.
func (o *Options) getSmall(ctx context.Context, u string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.client().Do(req)
	if err != nil {
		return nil, requestError(u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: the server answered %s", u, resp.Status)
	}
	body := &stallReader{r: resp.Body, stall: o.stall(), cancel: cancel}
	defer body.stop()
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if context.Cause(ctx) == errStalled {
		return nil, fmt.Errorf("%s: the server sent nothing for %s (stalled)", u, o.stall())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d MiB, more than such a file can be", u, limit>>20)
	}
	return data, nil
}

// resolveURL is a tarball at an http(s) URL, with its SHA-256 given or
// read from SHA256SUMS in the same directory.
func (o *Options) resolveURL(ctx context.Context, source, sha256hex string) (*Plan, error) {
	u, err := url.Parse(source)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s: not a URL", source)
	}
	base := path.Base(u.Path)
	if sha256hex == "" {
		sums := *u
		sums.Path = path.Join(path.Dir(u.Path), "SHA256SUMS")
		sums.RawQuery = ""
		data, err := o.getSmall(ctx, sums.String(), 16<<20)
		if err != nil {
			return nil, fmt.Errorf("no --sha256 given, and no SHA256SUMS beside it: give --sha256 HEX (%w)", err)
		}
		if sha256hex = findSum(data, base); sha256hex == "" {
			return nil, fmt.Errorf("%s names no %s: give --sha256", sums.String(), base)
		}
	}
	sha256hex = strings.ToLower(sha256hex)
	if b, err := hex.DecodeString(sha256hex); err != nil || len(b) != 32 {
		return nil, fmt.Errorf("--sha256 %q: give the 64 hex digits of a SHA-256", sha256hex)
	}
	b := blob{url: source, sha256: sha256hex, size: -1, client: o.client()}
	return &Plan{Source: source, Digest: "sha256:" + sha256hex, Name: sanitize(base), Size: -1,
		fetch: b.fetch}, nil
}

// fetch is a Plan's download of one file.
func (b blob) fetch(ctx context.Context, o *Options, counted func(int64)) (Download, error) {
	p, err := o.download(ctx, b, counted)
	return Download{File: p, SHA256: b.sha256, Cached: []string{p}}, err
}

// findSum finds name's SHA-256 in a sha256sum listing ("HEX  name" or
// "HEX *name").
func findSum(data []byte, name string) string {
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && strings.TrimPrefix(f[1], "*") == name && len(f[0]) == 64 {
			return f[0]
		}
	}
	return ""
}

// sanitize makes s a valid image name: characters outside
// [A-Za-z0-9_.-] become '-', no leading '.' or '-', at most 128 bytes.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	s = strings.TrimLeft(string(b), ".-")
	if len(s) > 128 {
		s = s[len(s)-128:]
	}
	if s == "" {
		s = "image"
	}
	return s
}
