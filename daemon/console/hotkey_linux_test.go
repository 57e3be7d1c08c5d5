package console

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"initns/hotkey"
)

// TestHotkeyOpensShell wires the hotkey to the Manager as the daemon does
// and presses Ctrl+Alt+J on a keyboard stand-in (a FIFO of raw
// input_event records, classified a keyboard by the test's seam).
func TestHotkeyOpensShell(t *testing.T) {
	h := &fakeHost{name: "box"}
	m, home := newManager(t, h, Config{})
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The daemon calls go m.Chord(); calling it inline tells the test
	// when each chord has been handled.
	handled := make(chan struct{}, 4)
	w := &hotkey.Watcher{
		Dir:        dir,
		Fire:       func() { m.Chord(); handled <- struct{}{} },
		IsKeyboard: func(int, string) (bool, error) { return true, nil },
		KeyState:   func(int) ([]byte, error) { return nil, nil },
	}
	go w.Run(ctx)
	kbd := plugKeyboard(t, filepath.Join(dir, "event0"))
	defer unix.Close(kbd)
	pressChord(t, kbd, time.Second)
	waitChord(t, handled)
	pid := assertOpen(t, m)
	pressChord(t, kbd, 2*time.Second)
	waitChord(t, handled)
	if got := m.ShellPid(); got != pid {
		t.Errorf("second chord: shell %d, want %d", got, pid)
	}
	if freezes, _ := h.calls(); len(freezes) != 1 {
		t.Errorf("FreezeRunning called %d times, want 1", len(freezes))
	}
	typeOnShellVT(t, "exit\n")
	waitFor(t, "the end of the shell", m.isIdle)
	assertEnded(t, m, pid, home)
}

func waitChord(t *testing.T, handled <-chan struct{}) {
	t.Helper()
	select {
	case <-handled:
	case <-time.After(10 * time.Second):
		t.Fatal("the chord was not handled")
	}
}

// plugKeyboard creates a FIFO keyboard and returns its write end once the
// watcher has opened it.
func plugKeyboard(t *testing.T, path string) int {
	t.Helper()
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == nil {
			return fd
		}
	}
	t.Fatal("the watcher never opened the keyboard")
	return -1
}

// pressChord writes Ctrl+Alt+J, down then up, stamped at.
func pressChord(t *testing.T, fd int, at time.Duration) {
	t.Helper()
	const leftCtrl, leftAlt, j = 29, 56, 36 // linux/input-event-codes.h
	var b []byte
	for _, k := range []struct {
		code  uint16
		value int32
	}{{leftCtrl, 1}, {leftAlt, 1}, {j, 1}, {j, 0}, {leftAlt, 0}, {leftCtrl, 0}} {
		b = hotkey.AppendEvent(b, hotkey.Event{Time: at, Type: 1, Code: k.code, Value: k.value})
		b = hotkey.AppendEvent(b, hotkey.Event{Time: at, Type: 0, Code: 0})
	}
	if _, err := unix.Write(fd, b); err != nil {
		t.Fatal(err)
	}
}
