package pid1

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"initns/internal/ptytest"
)

// ptyReader collects what the terminal shows.
type ptyReader struct {
	ch  chan []byte
	buf bytes.Buffer
}

func newPtyReader(r io.Reader) *ptyReader {
	p := &ptyReader{ch: make(chan []byte, 64)}
	go func() {
		for {
			b := make([]byte, 4096)
			n, err := r.Read(b)
			if n > 0 {
				p.ch <- b[:n]
			}
			// EIO: no slave side is open, between one shell and the next.
			if errors.Is(err, unix.EIO) {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			if err != nil {
				close(p.ch)
				return
			}
		}
	}()
	return p
}

// expect waits for re in what the terminal showed since the last match.
func (p *ptyReader) expect(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if m := re.FindSubmatch(p.buf.Bytes()); m != nil {
			out := make([]string, len(m))
			for i := range m {
				out[i] = string(m[i])
			}
			p.buf.Next(re.FindIndex(p.buf.Bytes())[1])
			return out
		}
		select {
		case b, ok := <-p.ch:
			if !ok {
				t.Fatalf("terminal closed waiting for %q; saw %q", re, p.buf.String())
			}
			p.buf.Write(b)
		case <-deadline:
			t.Fatalf("waiting for %q; the terminal showed %q", re, p.buf.String())
		}
	}
}

// TestKeepShell starts a shell on a pseudo-terminal, checks its session,
// controlling terminal and environment, that it comes back after exit,
// and that ending the context hangs it up and returns.
func TestKeepShell(t *testing.T) {
	m, tty := ptytest.Open(t)
	r := newPtyReader(m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		// /bin/sh, not bash: the test must not depend on this machine's
		// /root/.bashrc (whatever it runs at start).
		sh := &shell{tty: tty, path: "/bin/sh"}
		sh.keep(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	// $$ is the session leader (sid == pid), and the terminal is its own.
	probe := `echo "@@ $$ $(cut -d' ' -f6 /proc/$$/stat) $HOME $TERM $(readlink /proc/$$/fd/0) $(cut -d' ' -f7 /proc/$$/stat)"` + "\n"
	re := regexp.MustCompile(`@@ (\d+) (\d+) (\S+) (\S+) (\S+) (\d+)`)
	fmt.Fprint(m, probe)
	first := r.expect(t, re)
	if first[1] != first[2] || first[3] != "/root" || first[4] != "linux" || first[5] != tty || first[6] == "0" {
		t.Errorf("pid %s sid %s HOME %s TERM %s stdin %s controlling tty %s; want a session leader with HOME=/root TERM=linux on %s as its controlling terminal",
			first[1], first[2], first[3], first[4], first[5], first[6], tty)
	}
	fmt.Fprint(m, "exit\n")
	time.Sleep(1500 * time.Millisecond) // the pause before a new shell
	fmt.Fprint(m, probe)
	second := r.expect(t, re)
	if second[1] == first[1] {
		t.Errorf("the shell was not started again after exit (same pid %s)", first[1])
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("KeepShell did not return after its context ended")
	}
	pid, _ := strconv.Atoi(second[1])
	if err := unix.Kill(pid, 0); err == nil {
		t.Errorf("shell %d still runs after the hangup", pid)
	}
}
