package menu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"initns/internal/ptytest"
)

// pty is a pseudo-terminal: the test types on the master, the menu runs
// on the slave.
type pty struct {
	master *os.File
	slave  string
	mu     sync.Mutex
	shown  bytes.Buffer
}

func openPty(t *testing.T) *pty {
	t.Helper()
	m, slave := ptytest.Open(t)
	p := &pty{master: m, slave: slave}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			p.mu.Lock()
			p.shown.Write(buf[:n])
			p.mu.Unlock()
			// EIO: no slave side is open (yet, or between two openers).
			if errors.Is(err, unix.EIO) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

// waitShown waits until the terminal has shown s.
func (p *pty) waitShown(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		ok := strings.Contains(p.shown.String(), s)
		p.mu.Unlock()
		if ok {
			return
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Fatalf("the terminal never showed %q; it showed %q", s, p.shown.String())
}

// termios reads the slave's mode through a descriptor of its own.
func termios(t *testing.T, path string) unix.Termios {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return *tio
}

type result struct {
	a   Action
	err error
}

func runOn(t *testing.T, ctx context.Context, path string, m *Menu, shell func(context.Context) error) (*Terminal, chan result) {
	t.Helper()
	term, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan result, 1)
	go func() {
		a, err := Run(ctx, term, m, shell)
		done <- result{a, err}
	}()
	return term, done
}

func wait(t *testing.T, done chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the menu did not end")
	}
	return result{}
}

// TestTerminalKeysAndRestore: on a real pty, typed arrows and Enter boot
// the chosen entry, a lone Esc is the Esc key after a pause, and Close
// puts back exactly the mode the terminal had.
func TestTerminalKeysAndRestore(t *testing.T) {
	p := openPty(t)
	before := termios(t, p.slave)
	term, done := runOn(t, context.Background(), p.slave, New(entries(), "alpha", 30, ""), nil)
	p.waitShown(t, "Booting alpha in 30 s")
	if raw := termios(t, p.slave); raw.Lflag&(unix.ICANON|unix.ECHO) != 0 {
		t.Errorf("the menu's terminal is not raw: lflag %#x", raw.Lflag)
	}
	p.master.Write([]byte("\x1b[Bi"))
	p.waitShown(t, "Last boots of beta")
	p.master.Write([]byte("\x1b")) // a lone Esc: the decoder waits, then takes it
	time.Sleep(200 * time.Millisecond)
	p.master.Write([]byte("\x1b[B\r"))
	r := wait(t, done)
	if r.err != nil || r.a != (Action{Kind: Boot, Name: "gamma"}) {
		t.Fatalf("Run: %+v %v; want boot gamma", r.a, r.err)
	}
	if err := term.Close(); err != nil {
		t.Fatal(err)
	}
	if after := termios(t, p.slave); !reflect.DeepEqual(after, before) {
		t.Errorf("the terminal's mode after the menu:\n%+v\nwant as before:\n%+v", after, before)
	}
}

// TestTerminalCountdown: with nothing typed, the countdown boots the
// default on time.
func TestTerminalCountdown(t *testing.T) {
	p := openPty(t)
	start := time.Now()
	term, done := runOn(t, context.Background(), p.slave, New(entries(), "beta", 2, ""), nil)
	defer term.Close()
	r := wait(t, done)
	if r.a != (Action{Kind: Boot, Name: "beta"}) || r.err != nil {
		t.Fatalf("Run: %+v %v; want boot beta", r.a, r.err)
	}
	if took := time.Since(start); took < 1900*time.Millisecond {
		t.Errorf("a 2 s countdown ended after %v", took)
	}
}

// TestTerminalCancelAndHangup: the daemon's cancel (a client booted an
// instance) ends a menu waiting for a key; a console that hangs up ends
// it with an error, never a spin.
func TestTerminalCancelAndHangup(t *testing.T) {
	p := openPty(t)
	ctx, cancel := context.WithCancel(context.Background())
	term, done := runOn(t, ctx, p.slave, New(entries(), "", 0, ""), nil)
	p.waitShown(t, "Up/Down")
	cancel()
	if r := wait(t, done); !errors.Is(r.err, context.Canceled) {
		t.Errorf("Run after cancel: %+v %v", r.a, r.err)
	}
	term.Close()

	p2 := openPty(t)
	term2, done2 := runOn(t, context.Background(), p2.slave, New(entries(), "", 0, ""), nil)
	defer term2.Close()
	p2.waitShown(t, "Up/Down")
	p2.master.Close()
	if r := wait(t, done2); r.err == nil {
		t.Errorf("Run on a hung-up console: %+v and no error", r.a)
	}
}

// TestTerminalShell: the shell key hands the terminal over in its own
// mode and shows the menu again afterwards.
func TestTerminalShell(t *testing.T) {
	p := openPty(t)
	before := termios(t, p.slave)
	var during unix.Termios
	shell := func(ctx context.Context) error {
		during = termios(t, p.slave)
		return nil
	}
	term, done := runOn(t, context.Background(), p.slave, New(entries(), "alpha", 0, ""), shell)
	defer term.Close()
	p.waitShown(t, "Up/Down")
	p.mu.Lock()
	p.shown.Reset()
	p.mu.Unlock()
	p.master.Write([]byte("s"))
	p.waitShown(t, "initns boot menu")
	if !reflect.DeepEqual(during, before) {
		t.Errorf("the shell got the terminal in the menu's mode:\n%+v\nwant\n%+v", during, before)
	}
	p.master.Write([]byte("\r"))
	if r := wait(t, done); r.a != (Action{Kind: Boot, Name: "alpha"}) {
		t.Errorf("Enter after the shell: %+v %v", r.a, r.err)
	}
}
