package menu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"initns/internal/term"
)

// Terminal is the console tty in the menu's raw mode. Close puts back
// exactly the mode it found, shows the cursor and clears the screen, so
// an instance's init gets the console as the kernel left it.
type Terminal struct {
	path  string
	saved *unix.Termios
	mu    sync.Mutex // guards f: Run's cancel sets its deadline from another goroutine
	f     *os.File
}

// Open opens the terminal at path for the menu: it must be a tty (an
// error otherwise, and the daemon boots without a menu). It is opened
// non-blocking, so reads wait in Go's poller with deadlines, and without
// becoming the daemon's controlling terminal.
func Open(path string) (*Terminal, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the console %s: %w", path, err)
	}
	saved, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("the console %s is not a terminal: %w", path, err)
	}
	t := &Terminal{f: os.NewFile(uintptr(fd), path), path: path, saved: saved}
	if err := t.raw(); err != nil {
		t.f.Close()
		return nil, err
	}
	return t, nil
}

// raw puts the terminal in the menu's mode, raw (package term): bytes as
// typed, no echo, no signals from ^C, no output processing (the menu
// writes CR LF itself).
func (t *Terminal) raw() error {
	tio := term.Raw(*t.saved)
	if err := unix.IoctlSetTermios(int(t.f.Fd()), unix.TCSETS, &tio); err != nil {
		return fmt.Errorf("raw mode on the console %s: %w", t.path, err)
	}
	return nil
}

// restore puts back the mode Open found, and the cursor.
func (t *Terminal) restore() error {
	t.f.Write([]byte(normal + "\x1b[?25h"))
	if err := unix.IoctlSetTermios(int(t.f.Fd()), unix.TCSETS, t.saved); err != nil {
		return fmt.Errorf("restore the console %s: %w", t.path, err)
	}
	return nil
}

// Close clears the screen, restores the terminal and closes it.
func (t *Terminal) Close() error {
	t.f.Write([]byte(clearScreen))
	err := t.restore()
	t.f.Close()
	return err
}

// width is the terminal's column count, 80 when it does not say (a
// serial line).
func (t *Terminal) width() int {
	ws, err := unix.IoctlGetWinsize(int(t.f.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 {
		return 80
	}
	return int(ws.Col)
}

// escWait is how long a lone ESC waits for the rest of a sequence before
// it counts as the Esc key.
const escWait = 50 * time.Millisecond

// Run shows m on t until an action boots an instance, ctx ends (a client
// booted one meanwhile) or the terminal fails; a Shell action calls shell
// (which runs the host shell on the terminal and returns when it ends)
// with the terminal in its saved mode, then shows the menu again. A read
// error such as EIO (the console hung up) ends Run with that error.
func Run(ctx context.Context, t *Terminal, m *Menu, shell func(ctx context.Context) error) (Action, error) {
	stop := context.AfterFunc(ctx, func() {
		t.mu.Lock()
		t.f.SetReadDeadline(time.Unix(1, 0))
		t.mu.Unlock()
	})
	defer stop()
	var dec Decoder
	buf := make([]byte, 256)
	tick := time.Now().Add(time.Second)
	for {
		if _, err := t.f.Write([]byte("\x1b[?25l" + m.Render(t.width()))); err != nil {
			return Action{}, fmt.Errorf("write the menu to %s: %w", t.path, err)
		}
		// Wake for the countdown's next second and to end a lone ESC;
		// with neither, wait for a key only.
		var deadline time.Time
		if m.Left > 0 {
			deadline = tick
		}
		if len(dec.seq) > 0 {
			deadline = time.Now().Add(escWait)
		}
		t.f.SetReadDeadline(deadline)
		// Checked after setting the deadline: a cancel whose deadline
		// was just overwritten is seen here.
		if ctx.Err() != nil {
			return Action{}, ctx.Err()
		}
		n, err := t.f.Read(buf)
		if ctx.Err() != nil {
			return Action{}, ctx.Err()
		}
		var keys []Key
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			keys = dec.Flush()
			if !time.Now().Before(tick) {
				tick = time.Now().Add(time.Second)
				if a := m.Tick(); a.Kind != None {
					return a, nil
				}
			}
		case err != nil:
			return Action{}, fmt.Errorf("read the console %s: %w", t.path, err)
		default:
			keys = dec.Feed(buf[:n])
		}
		for _, k := range keys {
			a := m.Press(k)
			switch a.Kind {
			case Boot:
				return a, nil
			case Shell:
				if err := t.runShell(ctx, shell); err != nil {
					m.Note = "The host shell did not start: " + err.Error()
				}
			}
		}
	}
}

// runShell gives the terminal to the host shell in its saved mode, and
// takes it back for the menu afterwards.
func (t *Terminal) runShell(ctx context.Context, shell func(ctx context.Context) error) error {
	t.f.Write([]byte(clearScreen))
	if err := t.restore(); err != nil {
		return err
	}
	err := shell(ctx)
	if rerr := t.reopen(); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// reopen opens the terminal afresh, in the menu's mode. The shell's end
// hangs the terminal up for every opener: when a session leader exits,
// the kernel hangs up its controlling terminal (disassociate_ctty, on a
// VT or serial line), and the menu's descriptor then reads EOF and writes
// EIO.
func (t *Terminal) reopen() error {
	fd, err := unix.Open(t.path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the console %s again: %w", t.path, err)
	}
	t.mu.Lock()
	t.f.Close()
	t.f = os.NewFile(uintptr(fd), t.path)
	t.mu.Unlock()
	return t.raw()
}
