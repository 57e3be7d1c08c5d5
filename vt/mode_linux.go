package vt

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SwitchMode says who decides about switches away from a VT (struct
// vt_mode). With Process false (VT_AUTO) the kernel switches on its own.
// With Process true (VT_PROCESS) the process that set the mode is sent
// Release when a switch away is requested and must answer with VT_RELDISP,
// and is sent Acquire when the VT comes to front.
type SwitchMode struct {
	Process bool
	Release syscall.Signal
	Acquire syscall.Signal
}

// SwitchMode returns the switch mode of this VT (VT_GETMODE).
func (t *Terminal) SwitchMode() (SwitchMode, error) {
	var m vtMode
	if err := t.ioctl(func(fd int) error { return ioctlPtr(fd, vtGetMode, unsafe.Pointer(&m)) }); err != nil {
		return SwitchMode{}, fmt.Errorf("VT_GETMODE on %s: %w", t.path, err)
	}
	return SwitchMode{
		Process: m.Mode == vtProcess,
		Release: syscall.Signal(m.Relsig),
		Acquire: syscall.Signal(m.Acqsig),
	}, nil
}

// SetSwitchMode sets the switch mode of this VT (VT_SETMODE). With
// VT_PROCESS the calling process becomes the VT's holder.
func (t *Terminal) SetSwitchMode(s SwitchMode) error {
	m := vtMode{Mode: vtAuto}
	if s.Process {
		m = vtMode{Mode: vtProcess, Relsig: int16(s.Release), Acqsig: int16(s.Acquire)}
	}
	if err := t.ioctl(func(fd int) error { return ioctlPtr(fd, vtSetMode, unsafe.Pointer(&m)) }); err != nil {
		return fmt.Errorf("VT_SETMODE %+v on %s: %w", s, t.path, err)
	}
	return nil
}

// Graphics reports whether this VT is in graphics mode (KDGETMODE): the
// kernel neither draws on it nor, with VT_AUTO, switches away from it.
func (t *Terminal) Graphics() (bool, error) {
	var mode int
	err := t.ioctl(func(fd int) (err error) { mode, err = unix.IoctlGetInt(fd, kdGetMode); return err })
	if err != nil {
		return false, fmt.Errorf("KDGETMODE on %s: %w", t.path, err)
	}
	return mode == kdGraphics, nil
}

// SetText puts this VT in text mode (KDSETMODE KD_TEXT), so the kernel
// draws its characters.
func (t *Terminal) SetText() error {
	return t.setDisplay(kdText)
}

// SetGraphics puts this VT in graphics mode (KDSETMODE KD_GRAPHICS).
func (t *Terminal) SetGraphics() error {
	return t.setDisplay(kdGraphics)
}

func (t *Terminal) setDisplay(mode int) error {
	if err := t.ioctl(func(fd int) error { return ioctlInt(fd, kdSetMode, mode) }); err != nil {
		return fmt.Errorf("KDSETMODE %d on %s: %w", mode, t.path, err)
	}
	return nil
}

// KeyboardMode is a keyboard mode of linux/kd.h (K_RAW ... K_OFF).
type KeyboardMode int

// The keyboard modes of linux/kd.h.
const (
	KeyboardRaw       KeyboardMode = 0x00 // K_RAW: scancodes
	KeyboardXlate     KeyboardMode = 0x01 // K_XLATE: 8-bit characters
	KeyboardMediumRaw KeyboardMode = 0x02 // K_MEDIUMRAW: keycodes
	KeyboardUnicode   KeyboardMode = 0x03 // K_UNICODE: UTF-8 characters
	KeyboardOff       KeyboardMode = 0x04 // K_OFF: nothing reaches the VT
)

// KeyboardMode returns this VT's keyboard mode (KDGKBMODE).
func (t *Terminal) KeyboardMode() (KeyboardMode, error) {
	var mode int
	err := t.ioctl(func(fd int) (err error) { mode, err = unix.IoctlGetInt(fd, kdGKBMode); return err })
	if err != nil {
		return 0, fmt.Errorf("KDGKBMODE on %s: %w", t.path, err)
	}
	return KeyboardMode(mode), nil
}

// SetKeyboardMode sets this VT's keyboard mode (KDSKBMODE).
func (t *Terminal) SetKeyboardMode(m KeyboardMode) error {
	if err := t.ioctl(func(fd int) error { return ioctlInt(fd, kdSKBMode, int(m)) }); err != nil {
		return fmt.Errorf("KDSKBMODE %d on %s: %w", m, t.path, err)
	}
	return nil
}

// FlushInput drops what waits in this VT's input queue, typed and not
// yet read (TCFLSH TCIFLUSH).
func (t *Terminal) FlushInput() error {
	if err := t.ioctl(func(fd int) error { return ioctlInt(fd, unix.TCFLSH, unix.TCIFLUSH) }); err != nil {
		return fmt.Errorf("TCFLSH on %s: %w", t.path, err)
	}
	return nil
}

// SetControlling makes this VT the controlling terminal of the calling
// process's session (TIOCSCTTY). The caller must be a session leader
// without a controlling terminal. With steal, a root caller takes the VT
// from the session that has it.
func (t *Terminal) SetControlling(steal bool) error {
	arg := 0
	if steal {
		arg = 1
	}
	if err := ioctlInt(t.fd, unix.TIOCSCTTY, arg); err != nil {
		return fmt.Errorf("TIOCSCTTY on %s: %w", t.path, err)
	}
	return nil
}

// SetSane resets the line settings a previous session may have left on
// the VT (the kernel keeps a VT's termios after its last close) to the
// kernel's defaults for a new terminal (tty_std_termios), plus IUTF8 for
// the Unicode keyboard. The control characters and speed are kept.
func (t *Terminal) SetSane() error {
	tio, err := unix.IoctlGetTermios(t.fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("TCGETS on %s: %w", t.path, err)
	}
	tio.Iflag = unix.ICRNL | unix.IXON | unix.IUTF8
	tio.Oflag = unix.OPOST | unix.ONLCR
	tio.Lflag = unix.ISIG | unix.ICANON | unix.ECHO | unix.ECHOE | unix.ECHOK |
		unix.ECHOCTL | unix.ECHOKE | unix.IEXTEN
	if err := unix.IoctlSetTermios(t.fd, unix.TCSETS, tio); err != nil {
		return fmt.Errorf("TCSETS on %s: %w", t.path, err)
	}
	return nil
}

// Hangup hangs up the VT (TIOCVHANGUP): every descriptor open on it, this
// one included, fails from now on, and the session it controls, if any,
// gets SIGHUP. Opening the device again gives a working descriptor.
func (t *Terminal) Hangup() error {
	if err := ioctlInt(t.fd, unix.TIOCVHANGUP, 0); err != nil {
		return fmt.Errorf("TIOCVHANGUP on %s: %w", t.path, err)
	}
	return nil
}
