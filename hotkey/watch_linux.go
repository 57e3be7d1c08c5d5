package hotkey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sys/unix"
)

// Watcher watches a directory of evdev devices for the chord. Fill the
// fields, then call Run; the zero value of every field but Dir and Fire
// has a working default.
type Watcher struct {
	// Dir is the directory of event devices, /dev/input. It need not exist
	// yet: Run waits for it to appear, and for it to come back if removed.
	Dir string
	// Fire is called on Run's goroutine each time the chord is pressed. It
	// must return quickly (start the work on another goroutine): while it
	// runs no key is read.
	Fire func()
	// Cycle, if not nil, is called like Fire when Ctrl+Alt+NextKey
	// (Next) or Ctrl+Alt+PrevKey (Previous) is pressed; key codes of
	// ParseChord, 0 for none.
	Cycle            func(Action)
	NextKey, PrevKey uint16
	// Log receives device arrivals and departures; nil discards them.
	Log *slog.Logger
	// Debounce is the Chord's debounce time; 0 means DefaultDebounce.
	Debounce time.Duration
	// IsKeyboard classifies an opened device; nil means asking the device
	// (EVIOCGBIT) and deciding with IsKeyboard. A seam for tests.
	IsKeyboard func(fd int, path string) (bool, error)
	// KeyState returns the keys a device holds (an EVIOCGKEY bitmap); nil
	// means asking the device. A seam for tests.
	KeyState func(fd int) ([]byte, error)
}

// Watch watches dir (normally /dev/input) for Ctrl+Alt+J on any keyboard,
// calling fire each time, until ctx is done. See Watcher.
func Watch(ctx context.Context, dir string, fire func()) error {
	return (&Watcher{Dir: dir, Fire: fire}).Run(ctx)
}

// Run watches until ctx is done and then returns ctx's error, having
// closed every descriptor it opened. It returns early only if the kernel
// refuses epoll, inotify or eventfd, or Dir exists but cannot be watched.
// It blocks in epoll_wait without a timeout: no CPU is used while no key
// is pressed and no device comes or goes.
func (w *Watcher) Run(ctx context.Context) error {
	l, err := w.newLoop()
	if err != nil {
		return err
	}
	defer l.close()
	stop := context.AfterFunc(ctx, l.wake)
	defer stop()
	if err := l.arm(); err != nil {
		return err
	}
	for {
		if err := l.wait(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// loop is the state of one Run: its descriptors and open keyboards.
type loop struct {
	w        *Watcher
	log      *slog.Logger
	epoll    int
	inotify  int
	wakefd   int // an eventfd written when ctx is done
	dirWd    int // the watch on Dir, or -1
	parentWd int // the watch on Dir's nearest existing ancestor, or -1
	chord    *Chord
	devices  map[int]*device // by descriptor
	paths    map[string]int  // descriptor by path
	events   [32]unix.EpollEvent
	buf      []byte // for device reads
	inbuf    []byte // for inotify reads
}

func (w *Watcher) newLoop() (*loop, error) {
	l := &loop{w: w, log: w.Log, epoll: -1, inotify: -1, wakefd: -1, dirWd: -1, parentWd: -1,
		devices: map[int]*device{}, paths: map[string]int{}, buf: make([]byte, 4096), inbuf: make([]byte, 4096)}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	debounce := w.Debounce
	if debounce == 0 {
		debounce = DefaultDebounce
	}
	l.chord = NewChord(debounce)
	if w.Cycle != nil {
		for key, a := range map[uint16]Action{w.NextKey: Next, w.PrevKey: Previous} {
			if key != 0 {
				l.chord.Bind(key, a)
			}
		}
	}
	var err error
	if l.epoll, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if l.inotify, err = unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK); err != nil {
		l.close()
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	if l.wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		l.close()
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	for _, fd := range []int{l.inotify, l.wakefd} {
		if err := l.add(fd); err != nil {
			l.close()
			return nil, err
		}
	}
	return l, nil
}

// add puts fd in the epoll set, level-triggered for input.
func (l *loop) add(fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epoll, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add %d: %w", fd, err)
	}
	return nil
}

// wake makes the loop's epoll_wait return; called once when ctx is done.
func (l *loop) wake() {
	var one = [8]byte{1}
	unix.Write(l.wakefd, one[:])
}

// wait waits for the next events and handles them.
func (l *loop) wait() error {
	n, err := unix.EpollWait(l.epoll, l.events[:], -1)
	if errors.Is(err, unix.EINTR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("epoll_wait: %w", err)
	}
	for _, ev := range l.events[:n] {
		switch fd := int(ev.Fd); fd {
		case l.wakefd:
		case l.inotify:
			if err := l.readInotify(); err != nil {
				return err
			}
		default:
			l.readDevice(fd)
		}
	}
	return nil
}

func (l *loop) close() {
	for fd := range l.devices {
		l.drop(fd, "watch ended")
	}
	for _, fd := range []int{l.wakefd, l.inotify, l.epoll} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}
