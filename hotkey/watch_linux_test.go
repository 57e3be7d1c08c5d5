package hotkey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeInput is a directory of FIFOs standing in for /dev/input: the test
// writes raw input_event records into a FIFO as a keyboard would, closes
// it to unplug the keyboard, and decides by name what is a keyboard
// (evdev ioctls fail on a FIFO, hence the Watcher's seams).
type fakeInput struct {
	t       *testing.T
	dir     string
	fires   chan struct{}
	logs    chan string
	mu      sync.Mutex
	probed  []string
	held    map[string][]byte // the EVIOCGKEY answer per device
	writers map[string]int
}

func newFakeInput(t *testing.T, dir string) *fakeInput {
	return &fakeInput{t: t, dir: dir, fires: make(chan struct{}, 16), logs: make(chan string, 256),
		held: map[string][]byte{}, writers: map[string]int{}}
}

func (f *fakeInput) watcher() *Watcher {
	return &Watcher{
		Dir:  f.dir,
		Fire: func() { f.fires <- struct{}{} },
		Log:  slog.New(logHandler{f.logs}),
		IsKeyboard: func(fd int, path string) (bool, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.probed = append(f.probed, filepath.Base(path))
			return !strings.HasPrefix(filepath.Base(path), "event1"), nil
		},
		KeyState: func(fd int) ([]byte, error) {
			path, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
			if err != nil {
				return nil, err
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.held[filepath.Base(path)], nil
		},
	}
}

// plug creates FIFO name, waits until the watcher has opened it, and
// returns the write end.
func (f *fakeInput) plug(name string, held ...uint16) {
	f.t.Helper()
	f.mu.Lock()
	f.held[name] = bitmapOf(held...)
	f.mu.Unlock()
	path := filepath.Join(f.dir, name)
	if err := unix.Mkfifo(path, 0o600); err != nil {
		f.t.Fatal(err)
	}
	f.expectLog("keyboard added path=" + path)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		f.t.Fatalf("open %s for writing: %v", name, err)
	}
	f.writers[name] = fd
}

// unplug closes the write end of name: the watcher reads end of file, as
// it reads ENODEV from an unplugged keyboard.
func (f *fakeInput) unplug(name string) {
	f.t.Helper()
	unix.Close(f.writers[name])
	delete(f.writers, name)
	f.expectLog("keyboard removed path=" + filepath.Join(f.dir, name))
}

// press writes one frame per key change to device name, at second sec.
func (f *fakeInput) press(name string, sec float64, changes ...change) {
	f.t.Helper()
	var b []byte
	at := time.Duration(sec * float64(time.Second))
	for _, c := range changes {
		b = AppendEvent(b, Event{Time: at, Type: evKey, Code: c.code, Value: c.value})
		b = AppendEvent(b, Event{Time: at, Type: evSyn, Code: synReport})
	}
	f.write(name, b)
}

func (f *fakeInput) write(name string, b []byte) {
	f.t.Helper()
	if _, err := unix.Write(f.writers[name], b); err != nil {
		f.t.Fatalf("write %s: %v", name, err)
	}
}

func (f *fakeInput) expectFire(what string) {
	f.t.Helper()
	select {
	case <-f.fires:
	case <-time.After(5 * time.Second):
		f.t.Fatalf("%s: no fire", what)
	}
}

func (f *fakeInput) expectNoFire(what string) {
	f.t.Helper()
	select {
	case <-f.fires:
		f.t.Fatalf("%s: unexpected fire", what)
	default:
	}
}

// expectLog waits for a log line containing want; lines before it are
// skipped.
func (f *fakeInput) expectLog(want string) {
	f.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case line := <-f.logs:
			if strings.Contains(line, want) {
				return
			}
		case <-timeout:
			f.t.Fatalf("no log %q", want)
		}
	}
}

type logHandler struct{ lines chan<- string }

func (h logHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h logHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h logHandler) WithGroup(string) slog.Handler            { return h }
func (h logHandler) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	h.lines <- line
	return nil
}

// change is one key going down or up.
type change struct {
	code  uint16
	value int32
}

// TestWatchHotplug drives the watcher end to end: the directory appears
// after the watcher starts, keyboards come and go, the chord spans them,
// a keyboard plugged in with Ctrl held counts it, SYN_DROPPED rereads the
// held keys, and the directory may vanish and come back.
func TestWatchHotplug(t *testing.T) {
	root := t.TempDir()
	f := newFakeInput(t, filepath.Join(root, "dev", "input"))
	fdsBefore := openFDs(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.watcher().Run(ctx) }()

	f.expectLog("waiting for the input device directory")
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.plug("event0")
	f.press("event0", 1.0, change{keyLeftCtrl, keyDown}, change{keyLeftAlt, keyDown}, change{ShellKey, keyDown}, change{ShellKey, keyUp})
	f.expectFire("chord on one keyboard")

	// Not keyboards: event1 is refused by the classifier, mouse0 is never
	// even opened.
	for _, name := range []string{"mouse0", "event1"} {
		if err := unix.Mkfifo(filepath.Join(f.dir, name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f.expectLog("not a keyboard path=" + filepath.Join(f.dir, "event1"))

	f.plug("event2")
	f.press("event0", 2.0, change{keyLeftAlt, keyUp})
	f.expectNoFire("Alt released")
	f.press("event2", 2.1, change{keyRightAlt, keyDown}, change{ShellKey, keyDown}, change{ShellKey, keyUp})
	f.expectFire("chord across two keyboards")

	f.press("event0", 3.0, change{keyLeftCtrl, keyUp})
	f.plug("event3", keyRightCtrl)
	f.press("event2", 3.1, change{ShellKey, keyDown}, change{ShellKey, keyUp})
	f.expectFire("Ctrl held when the keyboard was plugged in")

	f.unplug("event3")
	f.press("event2", 4.0, change{ShellKey, keyDown}, change{ShellKey, keyUp})
	// J on the device that has just pressed Ctrl, so the order is certain.
	f.press("event0", 5.0, change{keyLeftCtrl, keyDown}, change{ShellKey, keyDown}, change{ShellKey, keyUp})
	f.expectFire("chord after unplug")
	f.expectNoFire("Ctrl of an unplugged keyboard")

	// The kernel's buffer overflowed on event0: the rest of the frame is
	// ignored and the held keys are read again.
	f.mu.Lock()
	f.held["event0"] = bitmapOf(keyLeftCtrl, keyLeftAlt)
	f.mu.Unlock()
	f.press("event2", 6.0, change{keyRightAlt, keyUp})
	drop := AppendEvent(nil, Event{Time: 6 * time.Second, Type: evSyn, Code: synDropped})
	drop = AppendEvent(drop, Event{Time: 6 * time.Second, Type: evKey, Code: keyLeftCtrl, Value: keyUp})
	drop = AppendEvent(drop, Event{Time: 6 * time.Second, Type: evSyn, Code: synReport})
	f.write("event0", drop)
	f.expectLog("keyboard events dropped")
	f.press("event0", 6.1, change{ShellKey, keyDown})
	f.expectFire("chord with the keys read again after SYN_DROPPED")

	for name := range f.writers {
		unix.Close(f.writers[name])
		delete(f.writers, name)
	}
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	f.expectLog("input device directory removed")
	if err := os.Mkdir(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.plug("event5", keyLeftCtrl, keyRightAlt)
	f.press("event5", 7.0, change{ShellKey, keyDown})
	f.expectFire("chord after the directory came back")

	unix.Close(f.writers["event5"])
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, p := range f.probed {
		if p == "mouse0" {
			t.Error("mouse0 was probed")
		}
	}
	if after := openFDs(t); after != fdsBefore {
		t.Errorf("open descriptors: %d before, %d after Run", fdsBefore, after)
	}
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestWatchIdle proves the watcher sleeps: with a keyboard open and no key
// pressed, the process uses (almost) no CPU in a second.
func TestWatchIdle(t *testing.T) {
	f := newFakeInput(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.watcher().Run(ctx) }()
	// Leave no descriptor behind for the next test to count.
	defer func() {
		cancel()
		<-done
	}()
	f.plug("event0")
	before := cpuTime(t)
	time.Sleep(time.Second)
	if used := cpuTime(t) - before; used > 50*time.Millisecond {
		t.Fatalf("idle watcher used %v of CPU in 1s", used)
	}
	unix.Close(f.writers["event0"])
}

func cpuTime(t *testing.T) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestWatchRefusesFile checks that a Dir that is not a directory is an
// error, not a silent wait.
func TestWatchRefusesFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := Watch(context.Background(), file, func() {})
	if !errors.Is(err, unix.ENOTDIR) {
		t.Fatalf("Watch(file) = %v, want ENOTDIR", err)
	}
}

// TestEvdevOnNonDevice checks the real classifier's error path: the
// ioctls fail on something that is not an event device.
func TestEvdevOnNonDevice(t *testing.T) {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if ok, err := evdevIsKeyboard(fd, "/dev/null"); ok || !errors.Is(err, unix.ENOTTY) {
		t.Fatalf("evdevIsKeyboard(/dev/null) = %v, %v, want ENOTTY", ok, err)
	}
	if _, err := evdevKeyState(fd); !errors.Is(err, unix.ENOTTY) {
		t.Fatalf("evdevKeyState(/dev/null) = %v, want ENOTTY", err)
	}
}

func TestIoctlNumbers(t *testing.T) {
	// The values the C macros of linux/input.h give on x86-64.
	for _, c := range []struct {
		got, want uint
		name      string
	}{
		{eviocgbit(0, bitmapSize(evMax)), 0x80084520, "EVIOCGBIT(0, 8)"},
		{eviocgbit(evKey, bitmapSize(keyMax)), 0x80604521, "EVIOCGBIT(EV_KEY, 96)"},
		{eviocgkey(bitmapSize(keyMax)), 0x80604518, "EVIOCGKEY(96)"},
		{eviocsclockid, 0x400445a0, "EVIOCSCLOCKID"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

// TestWatchCycle: the cycling chords reach Cycle with their direction,
// from a keyboard plugged in while the watcher runs, with Ctrl and Alt on
// another keyboard; Ctrl+Alt+J still reaches Fire.
func TestWatchCycle(t *testing.T) {
	f := newFakeInput(t, t.TempDir())
	cycles := make(chan Action, 4)
	w := f.watcher()
	w.Cycle = func(a Action) { cycles <- a }
	w.NextKey, w.PrevKey = 109, 104
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	f.plug("event0")
	f.press("event0", 1.0, change{keyLeftCtrl, keyDown}, change{keyLeftAlt, keyDown})
	f.plug("event5")
	for i, want := range []Action{Next, Previous, Next} {
		key := map[Action]uint16{Next: 109, Previous: 104}[want]
		f.press("event5", 2.0+float64(i), change{key, keyDown}, change{key, keyUp})
		select {
		case got := <-cycles:
			if got != want {
				t.Fatalf("cycle %d: %v, want %v", i, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("cycle %d: not reported", i)
		}
	}
	f.press("event5", 9.0, change{ShellKey, keyDown}, change{ShellKey, keyUp})
	f.expectFire("Ctrl+Alt+J beside the cycling chords")
	f.expectNoFire("one fire for one J")
}
