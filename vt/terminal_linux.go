package vt

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrSwitchTimeout means a VT switch was requested but the VT did not come
// to front in time: the VT in front is held in VT_PROCESS mode by a process
// that does not answer, or is in graphics mode with VT_AUTO, where the
// kernel ignores switches.
var ErrSwitchTimeout = errors.New("VT switch did not happen in time")

// Terminal is an open virtual terminal device (/dev/ttyN or /dev/tty0).
// Its methods are safe for concurrent use: each is one or two ioctls.
//
// A hangup of the VT (vhangup(2), which getty and systemd do on every VT
// they take, or Hangup) makes every descriptor open on it answer EIO for
// good. The methods that only read or set the VT's state then run once
// more on a descriptor opened afresh: a daemon that opened the VT a moment
// before an instance's getty started must still be able to switch it.
type Terminal struct {
	fd   int
	path string
}

// Open opens a virtual terminal device read-write without making it the
// caller's controlling terminal.
func Open(path string) (*Terminal, error) {
	fd, err := openDevice(path)
	if err != nil {
		return nil, err
	}
	return &Terminal{fd: fd, path: path}, nil
}

// openDevice opens a VT device read-write, never as the caller's
// controlling terminal.
func openDevice(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	return fd, nil
}

// OpenVT opens /dev/ttyN for VT n (counted from 1).
func OpenVT(n int) (*Terminal, error) {
	return Open(Path(n))
}

// Path is the device path of VT n: /dev/ttyN.
func Path(n int) string {
	return fmt.Sprintf("/dev/tty%d", n)
}

// Fd is the terminal's file descriptor; it stays valid until Close.
func (t *Terminal) Fd() int { return t.fd }

// Close closes the device.
func (t *Terminal) Close() error {
	if err := unix.Close(t.fd); err != nil {
		return fmt.Errorf("close %s: %w", t.path, err)
	}
	return nil
}

// Active returns the number of the VT in front (VT_GETSTATE).
func (t *Terminal) Active() (int, error) {
	var st vtStat
	if err := t.ioctl(func(fd int) error { return ioctlPtr(fd, vtGetState, unsafe.Pointer(&st)) }); err != nil {
		return 0, fmt.Errorf("VT_GETSTATE on %s: %w", t.path, err)
	}
	return int(st.Active), nil
}

// Activate switches the console to VT n (VT_ACTIVATE) and waits until it
// is in front (VT_WAITACTIVE). If it is not in front within timeout it
// returns an error wrapping ErrSwitchTimeout; the switch may still happen
// later, and one thread stays in VT_WAITACTIVE until it does, since the
// kernel restarts that wait after every signal Go handles.
func (t *Terminal) Activate(n int, timeout time.Duration) error {
	if err := t.ioctl(func(fd int) error { return ioctlInt(fd, vtActivate, n) }); err != nil {
		return fmt.Errorf("VT_ACTIVATE %d on %s: %w", n, t.path, err)
	}
	return t.WaitActive(n, timeout)
}

// ioctl runs op on the terminal's descriptor and, if that descriptor was
// hung up (EIO), once more on one opened afresh.
func (t *Terminal) ioctl(op func(fd int) error) error {
	err := op(t.fd)
	if !errors.Is(err, unix.EIO) {
		return err
	}
	fd, openErr := openDevice(t.path)
	if openErr != nil {
		return err
	}
	defer unix.Close(fd)
	return op(fd)
}

// WaitActive waits until VT n is in front (VT_WAITACTIVE), at most timeout.
func (t *Terminal) WaitActive(n int, timeout time.Duration) error {
	// The waiter gets its own descriptor, opened afresh: if the wait
	// outlives this call and the caller closes t, the number must not be
	// reused under it, and t's may have been hung up.
	fd, err := openDevice(t.path)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		defer unix.Close(fd)
		done <- ioctlInt(fd, vtWaitActive, n)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("VT_WAITACTIVE %d on %s: %w", n, t.path, err)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("switch to VT %d: %w after %v", n, ErrSwitchTimeout, timeout)
	}
}
