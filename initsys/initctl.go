package initsys

import "encoding/binary"

// The request sysvinit's init reads from its control FIFO (initreq.h):
// magic, command, runlevel and sleep time as C ints, then a 368-byte union
// the runlevel command leaves zero. telinit writes exactly this.
const (
	initctlMagic  = 0x03091969
	initctlRunlvl = 1
	initctlSize   = 384
	// initctlSleep is the seconds init waits between TERM and KILL when
	// it changes runlevel: telinit's default.
	initctlSleep = 3
)

// InitctlRequest encodes a runlevel change ('0' halt or poweroff, '6'
// reboot) as telinit sends it.
func InitctlRequest(runlevel byte) []byte {
	b := make([]byte, initctlSize)
	binary.NativeEndian.PutUint32(b[0:], initctlMagic)
	binary.NativeEndian.PutUint32(b[4:], initctlRunlvl)
	binary.NativeEndian.PutUint32(b[8:], uint32(runlevel))
	binary.NativeEndian.PutUint32(b[12:], initctlSleep)
	return b
}
