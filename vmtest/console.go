package vmtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// ErrTimeout is returned when the console did not show what was expected in
// time.
var ErrTimeout = errors.New("timed out")

// ErrClosed is returned when the console ended (the VM exited) before it
// showed what was expected.
var ErrClosed = errors.New("console closed")

// Console is a guest's serial console: everything the guest writes is kept
// (Log returns it all), and Expect scans forward from where the previous
// match ended, so each marker is consumed once.
type Console struct {
	w   io.Writer
	tee io.Writer // guarded by mu

	mu     sync.Mutex
	cond   *sync.Cond
	buf    bytes.Buffer
	pos    int // where the next Expect starts
	closed bool
	seq    int
}

// NewConsole starts copying r (the guest's output) into the console and
// sends input to w. tee, if not nil, gets a copy of the output as it comes.
func NewConsole(r io.Reader, w io.Writer, tee io.Writer) *Console {
	c := &Console{w: w, tee: tee}
	c.cond = sync.NewCond(&c.mu)
	go c.copy(r)
	return c
}

// SetTee sends the output from now on to tee as well (nil: nowhere).
func (c *Console) SetTee(tee io.Writer) {
	c.mu.Lock()
	c.tee = tee
	c.mu.Unlock()
}

func (c *Console) copy(r io.Reader) {
	b := make([]byte, 4096)
	var held []byte // a \r at the end of a read, until the next shows what follows
	for {
		n, err := r.Read(b)
		if n > 0 {
			out := append(held, b[:n]...)
			held = nil
			if bytes.HasSuffix(out, []byte("\r")) {
				out, held = out[:len(out)-1], []byte("\r")
			}
			c.mu.Lock()
			// Serial output ends lines with \r\n; matching is simpler on
			// \n. A lone \r (a progress bar redrawing its line) stays.
			c.buf.Write(bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n")))
			c.cond.Broadcast()
			tee := c.tee
			c.mu.Unlock()
			if tee != nil {
				tee.Write(b[:n])
			}
		}
		if err != nil {
			c.mu.Lock()
			c.closed = true
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
	}
}

// Log returns everything the guest has written so far.
func (c *Console) Log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// Write sends raw input to the guest.
func (c *Console) Write(p []byte) (int, error) { return c.w.Write(p) }

// Expect waits until re matches the output after the previous match and
// returns the submatches. The console is consumed up to the end of the match.
func (c *Console) Expect(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	var m []string
	err := c.wait(re.String(), timeout, func(out []byte) bool {
		rest := out[c.pos:]
		loc := re.FindSubmatchIndex(rest)
		if loc == nil {
			return false
		}
		m = submatches(rest, loc)
		c.pos += loc[1]
		return true
	})
	return m, err
}

// Offset returns how much output the console holds now: a place to search
// from with ExpectFrom, for output that may come while commands run.
func (c *Console) Offset() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Len()
}

// ExpectFrom waits until s appears in the output after offset, whatever
// Expect and Run consumed meanwhile; it does not move Expect's position.
func (c *Console) ExpectFrom(offset int, s string, timeout time.Duration) error {
	return c.wait(s, timeout, func(out []byte) bool {
		return bytes.Contains(out[offset:], []byte(s))
	})
}

// wait calls found, with the lock held, on all the output so far and again
// whenever more arrives, until it reports true, the console closes or the
// timeout passes.
func (c *Console) wait(what string, timeout time.Duration, found func(out []byte) bool) error {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if found(c.buf.Bytes()) {
			return nil
		}
		if c.closed {
			return fmt.Errorf("waiting for %q: %w", what, ErrClosed)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("waiting %v for %q: %w", timeout, what, ErrTimeout)
		}
		c.cond.Wait()
	}
}

// ExpectString is Expect for a literal string.
func (c *Console) ExpectString(s string, timeout time.Duration) error {
	_, err := c.Expect(regexp.MustCompile(regexp.QuoteMeta(s)), timeout)
	return err
}

func submatches(b []byte, loc []int) []string {
	m := make([]string, len(loc)/2)
	for i := range m {
		if loc[2*i] >= 0 {
			m[i] = string(b[loc[2*i]:loc[2*i+1]])
		}
	}
	return m
}

// WaitShell sends a no-op command every few seconds until a shell on the
// console answers it, and returns how long that took.
func (c *Console) WaitShell(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	c.mu.Lock()
	c.seq++
	mark := fmt.Sprintf("@@READY%d", c.seq)
	c.mu.Unlock()
	re := regexp.MustCompile(regexp.QuoteMeta(mark) + `\n`)
	for time.Since(start) < timeout {
		// Input that arrives before the shell opened the terminal is dropped
		// in part, and may leave an open quote behind: Ctrl+C first discards
		// any such line. The quotes keep the echo of the input from matching
		// the output.
		fmt.Fprintf(c.w, "\x03echo %s''%s\n", mark[:2], mark[2:])
		_, err := c.Expect(re, 3*time.Second)
		if err == nil {
			return time.Since(start), nil
		}
		if errors.Is(err, ErrClosed) {
			return 0, err
		}
	}
	return 0, fmt.Errorf("no shell on the console after %v: %w", timeout, ErrTimeout)
}

// Run runs a shell command line on the guest's console shell and returns its
// output (stdout and stderr, interleaved as the console shows them) and its
// exit status. cmd is one line that must not read the console nor end with
// "&" or ";".
func (c *Console) Run(cmd string, timeout time.Duration) (string, int, error) {
	c.mu.Lock()
	c.seq++
	n := c.seq
	c.mu.Unlock()
	// Begin and end markers, quoted so that the echo of the command line
	// does not match; $? at the end is the status of the command.
	fmt.Fprintf(c.w, "echo @@''B%d; %s; echo @@''E%d=$?\n", n, cmd, n)
	re := regexp.MustCompile(fmt.Sprintf(`(?s)@@B%d\n(.*?)@@E%d=(\d+)\n`, n, n))
	m, err := c.Expect(re, timeout)
	if err != nil {
		return "", -1, fmt.Errorf("run %q: %w", cmd, err)
	}
	rc, _ := strconv.Atoi(m[2])
	return m[1], rc, nil
}
