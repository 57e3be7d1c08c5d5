// Package term owns the one way initns puts a person's terminal in raw
// mode and gives it back: the client relaying a shell inside an instance,
// the demo relaying a VM's console, and the boot menu.
package term

import "golang.org/x/sys/unix"

// MakeRaw puts the terminal on fd in raw mode, as cfmakeraw(3) does, so
// every key (Ctrl+C, Ctrl+Z, Ctrl+\ included) is a byte for the program
// relayed to, and returns what restores the modes it had.
func MakeRaw(fd int) (restore func(), err error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	t := Raw(*old)
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

// Raw returns the modes t in raw mode, as cfmakeraw(3) makes them: for a
// caller that keeps the terminal's own modes to restore (the boot menu).
func Raw(t unix.Termios) unix.Termios {
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	return t
}
