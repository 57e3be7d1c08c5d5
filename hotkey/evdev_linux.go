package hotkey

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctl request numbers of linux/input.h, built as its _IOR/_IOW macros
// (asm-generic/ioctl.h) build them; golang.org/x/sys/unix has none of the
// EVIOC ones.
const (
	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, nr, size uintptr) uint {
	return uint(dir<<30 | size<<16 | 'E'<<8 | nr)
}

// eviocgbit is EVIOCGBIT(ev, len): the event types (ev 0) or the codes of
// type ev that the device reports.
func eviocgbit(ev, size uintptr) uint { return ioc(iocRead, 0x20+ev, size) }

// eviocgkey is EVIOCGKEY(len): the keys held down now.
func eviocgkey(size uintptr) uint { return ioc(iocRead, 0x18, size) }

// eviocsclockid is EVIOCSCLOCKID: the clock of the event timestamps.
var eviocsclockid = ioc(iocWrite, 0xa0, unsafe.Sizeof(int32(0)))

// evdevIsKeyboard asks the device what it reports (EVIOCGBIT) and decides
// with IsKeyboard.
func evdevIsKeyboard(fd int, _ string) (bool, error) {
	evBits, err := ioctlBitmap(fd, eviocgbit(0, bitmapSize(evMax)), evMax)
	if err != nil {
		return false, fmt.Errorf("EVIOCGBIT(0): %w", err)
	}
	keyBits, err := ioctlBitmap(fd, eviocgbit(evKey, bitmapSize(keyMax)), keyMax)
	if err != nil {
		return false, fmt.Errorf("EVIOCGBIT(EV_KEY): %w", err)
	}
	return IsKeyboard(evBits, keyBits), nil
}

// evdevKeyState returns the keys the device holds now (EVIOCGKEY).
func evdevKeyState(fd int) ([]byte, error) {
	keys, err := ioctlBitmap(fd, eviocgkey(bitmapSize(keyMax)), keyMax)
	if err != nil {
		return nil, fmt.Errorf("EVIOCGKEY: %w", err)
	}
	return keys, nil
}

// setMonotonic makes the device stamp its events with CLOCK_MONOTONIC, so
// the debounce never sees the wall clock jump.
func setMonotonic(fd int) error {
	if err := unix.IoctlSetPointerInt(fd, eviocsclockid, unix.CLOCK_MONOTONIC); err != nil {
		return fmt.Errorf("EVIOCSCLOCKID: %w", err)
	}
	return nil
}

// bitmapSize is the size in bytes of a kernel bitmap of bits 0..max, in
// whole longs.
func bitmapSize(max int) uintptr {
	longs := (max + wordSize*8) / (wordSize * 8)
	return uintptr(longs * wordSize)
}

func ioctlBitmap(fd int, req uint, max int) ([]byte, error) {
	b := make([]byte, bitmapSize(max))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(&b[0])))
	if errno != 0 {
		return nil, errno
	}
	return b, nil
}
