package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Options are how downloads are made.
type Options struct {
	// Cache is the download cache (CacheDir): unfinished downloads wait
	// there to be resumed.
	Cache string
	// Stall is how long a server may send nothing before the download is
	// given up (default 30 s).
	Stall time.Duration
	// Progress receives the bytes downloaded so far and the total (-1 if
	// unknown); it may be nil, and is called from several goroutines one
	// at a time.
	Progress func(done, total int64)
	// Creds is USER:PASSWORD for a registry; empty: the docker config.
	Creds string
	// Transport carries every request (default: Go's, with the proxy
	// from the environment).
	Transport http.RoundTripper

	// announce learns a download's size from the server, when its source
	// gave none (Plan.Fetch).
	announce func(total int64)
}

func (o *Options) stall() time.Duration {
	if o.Stall > 0 {
		return o.Stall
	}
	return 30 * time.Second
}

// transport is the base of every request: proxies from the environment
// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), and a server that does not answer
// within the stall timeout is given up.
func (o *Options) transport() http.RoundTripper {
	if o.Transport != nil {
		return o.Transport
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = o.stall()
	o.Transport = t
	return t
}

// CacheDir is the user's download cache: $XDG_CACHE_HOME/initns, else
// /var/cache/initns for root, else ~/.cache/initns.
func CacheDir() (string, error) {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "initns"), nil
	}
	if os.Geteuid() == 0 {
		return "/var/cache/initns", nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set XDG_CACHE_HOME: %w", err)
	}
	return filepath.Join(home, ".cache", "initns"), nil
}

// blob is one file to download, known by its SHA-256.
type blob struct {
	url    string
	sha256 string // hex
	size   int64  // -1 when not announced by an index
	// client carries the requests (a registry's adds its authentication).
	client *http.Client
}

// ErrDigest is a download whose content is not what its index, manifest
// or checksum says.
var ErrDigest = errors.New("digest mismatch")

// partialDir is where downloads grow until they are verified.
func (o *Options) partialDir() string {
	return filepath.Join(o.Cache, "partial")
}

// partialPath is where b's download grows until it is verified.
func (o *Options) partialPath(sha string) string {
	return filepath.Join(o.partialDir(), "sha256-"+sha)
}

// staleAfter is how long an unfinished download waits in the cache to be
// resumed: one left alone longer (a pull given up with Ctrl+C and never
// tried again) is removed by the next pull, so that the cache does not
// keep every abandoned download for ever.
const staleAfter = 7 * 24 * time.Hour

// pruneStale removes the partial downloads untouched for staleAfter,
// except one a pull is writing now (locked).
func (o *Options) pruneStale() {
	pruneStale(o.partialDir(), time.Now())
}

func pruneStale(dir string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || now.Sub(info.ModTime()) < staleAfter {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.Remove(path)
		}
		f.Close()
	}
}

// lockPartial opens the partial download at path, made if missing, and
// locks it: two pulls of the same file must not write it together. A
// file that another pull's pruneStale removed between the open and the
// lock is let go and made again.
func lockPartial(path string) (*os.File, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("download cache: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			return nil, fmt.Errorf("it is being downloaded by another pull (%s): wait for it", path)
		}
		held, err := f.Stat()
		now, serr := os.Stat(path)
		if err == nil && serr == nil && os.SameFile(held, now) {
			return f, nil
		}
		f.Close()
	}
}

// download fetches b into the cache and returns the verified file's path.
// A partial file from an earlier attempt is resumed with an HTTP Range
// request; a complete one is verified and returned at once. The file is
// never returned unless it hashes to b.sha256. counted receives the bytes
// as they arrive (for progress).
func (o *Options) download(ctx context.Context, b blob, counted func(int64)) (string, error) {
	if err := os.MkdirAll(o.partialDir(), 0o700); err != nil {
		return "", fmt.Errorf("download cache: %w", err)
	}
	path := o.partialPath(b.sha256)
	f, err := lockPartial(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", b.url, err)
	}
	defer f.Close()
	h := sha256.New()
	have, err := io.Copy(h, f)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	counted(have)
	if b.size >= 0 && have > b.size {
		f.Truncate(0)
		h.Reset()
		counted(-have)
		have = 0
	}
	if b.size < 0 || have < b.size {
		if err := o.get(ctx, b, f, h, have, counted); err != nil {
			return "", err
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != b.sha256 {
		os.Remove(path)
		return "", fmt.Errorf("%s: %w: its SHA-256 is %s, the source says %s; nothing was kept", b.url, ErrDigest, got, b.sha256)
	}
	return path, nil
}

// get appends the rest of b, from offset have, to f and h.
func (o *Options) get(ctx context.Context, b blob, f *os.File, h io.Writer, have int64, counted func(int64)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url, nil)
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return requestError(b.url, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0 && b.size < 0:
		// The file was whole already (a pull whose publishing failed):
		// its digest decides.
		return nil
	case resp.StatusCode == http.StatusPartialContent && have > 0 && rangeStart(resp) == have:
	case resp.StatusCode == http.StatusOK:
		// The server ignored the range: start again.
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if r, ok := h.(interface{ Reset() }); ok {
			r.Reset()
		}
		counted(-have)
		have = 0
	default:
		return fmt.Errorf("%s: the server answered %s", b.url, resp.Status)
	}
	if b.size >= 0 && resp.ContentLength >= 0 && have+resp.ContentLength > b.size {
		return fmt.Errorf("%s: %w: the server announces %d bytes, the source says %d; nothing was kept", b.url, ErrDigest, have+resp.ContentLength, b.size)
	}
	if b.size < 0 && resp.ContentLength >= 0 && o.announce != nil {
		o.announce(have + resp.ContentLength)
	}
	body := &stallReader{r: resp.Body, stall: o.stall(), cancel: cancel}
	defer body.stop()
	limit := int64(-1)
	if b.size >= 0 {
		limit = b.size - have
	}
	n, err := copyCounted(io.MultiWriter(f, h), body, limit, counted)
	if err != nil {
		if context.Cause(ctx) == errStalled {
			return fmt.Errorf("%s: the server sent nothing for %s after %d bytes (a stalled server; --timeout waits longer): pull again to resume", b.url, o.stall(), have+n)
		}
		if errors.Is(err, errTooLarge) {
			os.Remove(f.Name())
			return fmt.Errorf("%s: %w: the server sent more than the %d bytes the source announces; nothing was kept", b.url, ErrDigest, b.size)
		}
		return fmt.Errorf("%s: download broke off after %d bytes (pull again to resume): %w", b.url, have+n, err)
	}
	if b.size >= 0 && have+n < b.size {
		return fmt.Errorf("%s: the server sent %d bytes of %d (truncated): pull again to resume", b.url, have+n, b.size)
	}
	return nil
}

var (
	errStalled  = errors.New("stalled")
	errTooLarge = errors.New("larger than announced")
)

// copyCounted copies r into w, reporting each chunk; with limit >= 0, a
// byte beyond it is errTooLarge.
func copyCounted(w io.Writer, r io.Reader, limit int64, counted func(int64)) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			if limit >= 0 && n+int64(k) > limit {
				return n, errTooLarge
			}
			if _, werr := w.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
			counted(int64(k))
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// rangeStart is the first byte of a 206 answer's Content-Range.
func rangeStart(resp *http.Response) int64 {
	cr, ok := strings.CutPrefix(resp.Header.Get("Content-Range"), "bytes ")
	if !ok {
		return -1
	}
	first, _, _ := strings.Cut(cr, "-")
	n, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// requestError says what went wrong with a request in a user's words.
func requestError(url string, err error) error {
	if strings.Contains(err.Error(), "stopped after 10 redirects") {
		return fmt.Errorf("%s: more than 10 redirects (a redirect loop?): %w", url, err)
	}
	return fmt.Errorf("%s: %w", url, err)
}

// stallReader cancels its request when no byte arrives for stall.
type stallReader struct {
	r      io.Reader
	stall  time.Duration
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.timer == nil {
		s.timer = time.AfterFunc(s.stall, func() { s.cancel(errStalled) })
	}
	n, err := s.r.Read(p)
	if n > 0 {
		s.timer.Reset(s.stall)
	}
	return n, err
}

func (s *stallReader) stop() {
	if s.timer != nil {
		s.timer.Stop()
	}
}
