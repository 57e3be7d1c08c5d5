// Package ptytest gives tests a real pseudo-terminal: the test types on
// the master, the code under test runs on the slave.
package ptytest

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Open returns a new pseudo-terminal's master, closed at the test's end,
// and the path of its slave. The master is non-blocking, so it is in Go's
// poller: Close ends a read under way at once (a read(2) blocked in the
// kernel would keep it open). Its reads fail with EIO while no slave is
// open.
func Open(t testing.TB) (*os.File, string) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := os.NewFile(uintptr(fd), "/dev/ptmx")
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	return m, "/dev/pts/" + strconv.Itoa(n)
}

// Screen is a pseudo-terminal whose output is collected as it comes: the
// code under test writes to Slave, the test types on Master and reads
// what was shown.
type Screen struct {
	Master *os.File
	Slave  string
	mu     sync.Mutex
	shown  bytes.Buffer
}

// NewScreen opens a pseudo-terminal and collects what its slave shows.
func NewScreen(t testing.TB) *Screen {
	t.Helper()
	m, slave := Open(t)
	s := &Screen{Master: m, Slave: slave}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			s.mu.Lock()
			s.shown.Write(buf[:n])
			s.mu.Unlock()
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
	return s
}

// Shown is everything shown so far.
func (s *Screen) Shown() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shown.String()
}

// Reset forgets what was shown.
func (s *Screen) Reset() {
	s.mu.Lock()
	s.shown.Reset()
	s.mu.Unlock()
}

// Since is what was shown after the last screen clear (ESC [ 2 J).
func (s *Screen) Since() string {
	out := s.Shown()
	if i := strings.LastIndex(out, "\x1b[2J"); i >= 0 {
		out = out[i:]
	}
	return out
}

// WaitShown waits up to 20 s until what was shown since the last clear
// holds want, and fails the test otherwise.
func (s *Screen) WaitShown(t testing.TB, want string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(s.Since(), want) {
			return
		}
	}
	t.Fatalf("the terminal never showed %q; since its last clear it shows %q", want, s.Since())
}

// Termios reads the slave's mode through a descriptor of its own.
func (s *Screen) Termios(t testing.TB) unix.Termios {
	t.Helper()
	fd, err := unix.Open(s.Slave, unix.O_RDWR|unix.O_NOCTTY, 0)
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
