package hotkey

// Event types and codes from linux/input-event-codes.h. They are defined
// here rather than taken from golang.org/x/sys/unix so the chord logic
// builds on every platform, and because that package has no KEY_ codes.
const (
	evSyn = 0x00 // EV_SYN
	evKey = 0x01 // EV_KEY

	synReport  = 0 // SYN_REPORT: end of a frame of events
	synDropped = 3 // SYN_DROPPED: the kernel's buffer overflowed

	keyLeftCtrl  = 29  // KEY_LEFTCTRL
	keyRightCtrl = 97  // KEY_RIGHTCTRL
	keyLeftAlt   = 56  // KEY_LEFTALT
	keyRightAlt  = 100 // KEY_RIGHTALT

	keyMax = 0x2ff // KEY_MAX
	evMax  = 0x1f  // EV_MAX
)

// ShellKey is the key of Ctrl+Alt+J, the host shell's chord: KEY_J.
const ShellKey = 36

// letterKeys are KEY_A ... KEY_Z; their codes follow the rows of a PC
// keyboard, not the alphabet.
var letterKeys = []uint16{
	30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, // A B C D E F G H I J K L M
	49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44, // N O P Q R S T U V W X Y Z
}

// Key values of an EV_KEY event.
const (
	keyUp     = 0
	keyDown   = 1
	keyRepeat = 2
)
