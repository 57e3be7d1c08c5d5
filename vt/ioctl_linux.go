package vt

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Request numbers and values from linux/vt.h; golang.org/x/sys/unix does
// not define them.
const (
	vtGetMode    = 0x5601 // VT_GETMODE: get the switch mode of this VT
	vtSetMode    = 0x5602 // VT_SETMODE: set the switch mode of this VT
	vtGetState   = 0x5603 // VT_GETSTATE: the active VT and a bitmap of open ones
	vtRelDisp    = 0x5605 // VT_RELDISP: answer a release or acquire signal
	vtActivate   = 0x5606 // VT_ACTIVATE: start switching to a VT
	vtWaitActive = 0x5607 // VT_WAITACTIVE: sleep until a VT is in front

	vtAuto    = 0x00 // VT_AUTO: the kernel switches on its own
	vtProcess = 0x01 // VT_PROCESS: the holder is asked with a signal
	vtAckAcq  = 0x02 // VT_ACKACQ: acknowledge an acquire signal
)

// Request numbers and values from linux/kd.h.
const (
	kdSetMode  = 0x4B3A // KDSETMODE: text or graphics
	kdGetMode  = 0x4B3B // KDGETMODE
	kdGKBMode  = 0x4B44 // KDGKBMODE: get the keyboard mode
	kdSKBMode  = 0x4B45 // KDSKBMODE: set the keyboard mode
	kdText     = 0x00   // KD_TEXT
	kdGraphics = 0x01   // KD_GRAPHICS
)

// vtMode is struct vt_mode of linux/vt.h.
type vtMode struct {
	Mode   int8  // VT_AUTO or VT_PROCESS
	Waitv  int8  // unused by the kernel
	Relsig int16 // signal sent to the holder to ask for a release
	Acqsig int16 // signal sent to the holder when the VT comes to front
	Frsig  int16 // unused by the kernel, must be 0
}

// vtStat is struct vt_stat of linux/vt.h.
type vtStat struct {
	Active uint16 // the VT in front, counted from 1
	Signal uint16 // unused
	State  uint16 // bit n: VT n is open (VT 0 is always set)
}

// ioctlPtr calls ioctl(fd, req, p) for the requests whose argument is a
// pointer to a structure; golang.org/x/sys/unix has no generic helper.
func ioctlPtr(fd int, req uint, p unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(p))
	if errno != 0 {
		return errno
	}
	return nil
}

// ioctlInt calls ioctl(fd, req, value), retrying when a signal interrupts it.
func ioctlInt(fd int, req uint, value int) error {
	for {
		err := unix.IoctlSetInt(fd, req, value)
		if err != unix.EINTR {
			return err
		}
	}
}
