package vt

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// The signals the kernel sends a VT_PROCESS holder. Real-time signals, so
// they never collide with the daemon's SIGINT, SIGTERM, SIGUSR2 and SIGPWR,
// nor with the halt signal an instance's init gets; 34 is the first one a
// static Go program may use (SIGRTMIN).
const (
	releaseSignal = syscall.Signal(34 + 10)
	acquireSignal = syscall.Signal(34 + 11)
)

// Holder keeps one VT in VT_PROCESS mode for this process: while it holds,
// the console stays on that VT. The policy is to refuse: every request to
// switch away (Alt+Fn, chvt, another process's VT_ACTIVATE) is answered
// VT_RELDISP 0, so the console cannot slip onto a frozen instance's VT; the
// holder itself switches away by calling Release first. Only one Holder
// may exist per process at a time, since the signals are process-wide;
// Release must be called exactly once.
type Holder struct {
	fd      int
	path    string
	sigs    chan os.Signal
	done    chan struct{}
	refused func()
}

// ErrHeld means this process holds a VT already.
var ErrHeld = errors.New("a VT is held by this process already")

// holding is set while a Holder exists.
var holding atomic.Bool

// Hold puts this VT in VT_PROCESS mode held by the calling process and
// answers the kernel's requests until Release. refused, if not nil, is
// called (from the holder's goroutine) after each refused switch. While a
// Holder exists, Hold fails with ErrHeld.
func (t *Terminal) Hold(refused func()) (*Holder, error) {
	if !holding.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("hold %s: %w", t.path, ErrHeld)
	}
	h, err := t.hold(refused)
	if err != nil {
		holding.Store(false)
	}
	return h, err
}

func (t *Terminal) hold(refused func()) (*Holder, error) {
	fd, err := unix.FcntlInt(uintptr(t.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup %s: %w", t.path, err)
	}
	h := &Holder{fd: fd, path: t.path, sigs: make(chan os.Signal, 8),
		done: make(chan struct{}), refused: refused}
	// Listen before the mode is set: an unhandled signal would be lost and
	// the switch would stay pending.
	signal.Notify(h.sigs, releaseSignal, acquireSignal)
	mode := SwitchMode{Process: true, Release: releaseSignal, Acquire: acquireSignal}
	if err := (&Terminal{fd: fd, path: t.path}).SetSwitchMode(mode); err != nil {
		signal.Stop(h.sigs)
		unix.Close(fd)
		return nil, err
	}
	go h.answer()
	return h, nil
}

// answer answers the kernel: refuse a release, acknowledge an acquire.
func (h *Holder) answer() {
	defer close(h.done)
	for sig := range h.sigs {
		switch sig {
		case releaseSignal:
			// EINVAL means no switch is pending any more (Release ran,
			// or the request was withdrawn): nothing to answer.
			if err := ioctlInt(h.fd, vtRelDisp, 0); err == nil && h.refused != nil {
				h.refused()
			}
		case acquireSignal:
			ioctlInt(h.fd, vtRelDisp, vtAckAcq)
		}
	}
}

// Release gives the VT back to the kernel (VT_AUTO) and stops answering.
// Once it returns, switches away from the VT happen without asking. It
// works after a hangup of the VT too (its session leader exited, which
// makes every descriptor open on it fail with EIO): it sets the mode
// through a descriptor of its own, opened anew.
func (h *Holder) Release() error {
	t, err := Open(h.path)
	if err == nil {
		err = t.SetSwitchMode(SwitchMode{})
		t.Close()
	}
	signal.Stop(h.sigs)
	close(h.sigs)
	<-h.done
	if cerr := unix.Close(h.fd); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close %s: %w", h.path, cerr))
	}
	holding.Store(false)
	return err
}
