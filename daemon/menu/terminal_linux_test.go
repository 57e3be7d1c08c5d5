package menu

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"initns/internal/ptytest"
)

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
	p := ptytest.NewScreen(t)
	before := p.Termios(t)
	term, done := runOn(t, context.Background(), p.Slave, New(entries(), "alpha", 30, ""), nil)
	p.WaitShown(t, "Booting alpha in 30 s")
	if raw := p.Termios(t); raw.Lflag&(unix.ICANON|unix.ECHO) != 0 {
		t.Errorf("the menu's terminal is not raw: lflag %#x", raw.Lflag)
	}
	p.Master.Write([]byte("\x1b[Bi"))
	p.WaitShown(t, "Last boots of beta")
	p.Master.Write([]byte("\x1b")) // a lone Esc: the decoder waits, then takes it
	time.Sleep(200 * time.Millisecond)
	p.Master.Write([]byte("\x1b[B\r"))
	r := wait(t, done)
	if r.err != nil || r.a != (Action{Kind: Boot, Name: "gamma"}) {
		t.Fatalf("Run: %+v %v; want boot gamma", r.a, r.err)
	}
	if err := term.Close(); err != nil {
		t.Fatal(err)
	}
	if after := p.Termios(t); !reflect.DeepEqual(after, before) {
		t.Errorf("the terminal's mode after the menu:\n%+v\nwant as before:\n%+v", after, before)
	}
}

// TestTerminalCountdown: with nothing typed, the countdown boots the
// default on time.
func TestTerminalCountdown(t *testing.T) {
	p := ptytest.NewScreen(t)
	start := time.Now()
	term, done := runOn(t, context.Background(), p.Slave, New(entries(), "beta", 2, ""), nil)
	defer term.Close()
	r := wait(t, done)
	if r.a != (Action{Kind: Boot, Name: "beta", Auto: true}) || r.err != nil {
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
	p := ptytest.NewScreen(t)
	ctx, cancel := context.WithCancel(context.Background())
	term, done := runOn(t, ctx, p.Slave, New(entries(), "", 0, ""), nil)
	p.WaitShown(t, "Up/Down")
	cancel()
	if r := wait(t, done); !errors.Is(r.err, context.Canceled) {
		t.Errorf("Run after cancel: %+v %v", r.a, r.err)
	}
	term.Close()

	p2 := ptytest.NewScreen(t)
	term2, done2 := runOn(t, context.Background(), p2.Slave, New(entries(), "", 0, ""), nil)
	defer term2.Close()
	p2.WaitShown(t, "Up/Down")
	p2.Master.Close()
	if r := wait(t, done2); r.err == nil {
		t.Errorf("Run on a hung-up console: %+v and no error", r.a)
	}
}

// TestTerminalShell: the shell key hands the terminal over in its own
// mode and shows the menu again afterwards, although the shell's end hung
// the terminal up (as the kernel does on a VT or serial line when the
// shell, a session leader, exits: here TIOCVHANGUP does it on the pty).
func TestTerminalShell(t *testing.T) {
	p := ptytest.NewScreen(t)
	before := p.Termios(t)
	var during unix.Termios
	shell := func(ctx context.Context) error {
		during = p.Termios(t)
		fd, err := unix.Open(p.Slave, unix.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.IoctlSetInt(fd, unix.TIOCVHANGUP, 0)
	}
	term, done := runOn(t, context.Background(), p.Slave, New(entries(), "alpha", 0, ""), shell)
	defer term.Close()
	p.WaitShown(t, "Up/Down")
	p.Reset()
	p.Master.Write([]byte("s"))
	p.WaitShown(t, "initns boot menu")
	if !reflect.DeepEqual(during, before) {
		t.Errorf("the shell got the terminal in the menu's mode:\n%+v\nwant\n%+v", during, before)
	}
	p.Master.Write([]byte("\r"))
	if r := wait(t, done); r.a != (Action{Kind: Boot, Name: "alpha"}) {
		t.Errorf("Enter after the shell: %+v %v", r.a, r.err)
	}
}
