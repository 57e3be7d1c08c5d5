package hotkey

import (
	"errors"

	"golang.org/x/sys/unix"
)

// device is an open keyboard.
type device struct {
	path    string
	pending []byte // the start of a record split between two reads
}

// open opens the event device at path and, if it is a keyboard, adds it to
// the epoll set with its held keys. A device that fails to open is left
// for its next inotify event (udev may not have set it up yet).
func (l *loop) open(path string) {
	if _, ok := l.paths[path]; ok {
		return
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		l.log.Debug("open input device", "path", path, "err", err)
		return
	}
	isKeyboard := l.w.IsKeyboard
	if isKeyboard == nil {
		isKeyboard = evdevIsKeyboard
	}
	ok, err := isKeyboard(fd, path)
	if err != nil || !ok {
		l.log.Debug("not a keyboard", "path", path, "err", err)
		unix.Close(fd)
		return
	}
	if err := setMonotonic(fd); err != nil {
		l.log.Debug("keyboard keeps its realtime clock", "path", path, "err", err)
	}
	if err := l.add(fd); err != nil {
		l.log.Warn("watch keyboard", "path", path, "err", err)
		unix.Close(fd)
		return
	}
	l.devices[fd] = &device{path: path}
	l.paths[path] = fd
	l.seed(fd)
	l.log.Info("keyboard added", "path", path)
}

// seed tells the chord which keys the device holds now.
func (l *loop) seed(fd int) {
	keyState := l.w.KeyState
	if keyState == nil {
		keyState = evdevKeyState
	}
	keys, err := keyState(fd)
	if err != nil {
		l.log.Warn("read held keys", "path", l.devices[fd].path, "err", err)
	}
	l.chord.Seed(l.devices[fd].path, keys)
}

// readDevice reads what the device has and feeds it to the chord. End of
// file (a FIFO's writer went away) and errors (ENODEV: unplugged) drop it.
func (l *loop) readDevice(fd int) {
	d, ok := l.devices[fd]
	if !ok {
		return
	}
	for {
		n, err := unix.Read(fd, l.buf[:len(l.buf)/EventSize*EventSize])
		switch {
		case errors.Is(err, unix.EAGAIN):
			return
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			l.drop(fd, err.Error())
			return
		case n == 0:
			l.drop(fd, "end of file")
			return
		}
		l.feed(fd, d, l.buf[:n])
	}
}

func (l *loop) feed(fd int, d *device, b []byte) {
	if len(d.pending) > 0 {
		b = append(d.pending, b...)
	}
	for ; len(b) >= EventSize; b = b[EventSize:] {
		switch a := l.chord.Feed(d.path, decodeEvent(b)); a {
		case Fire:
			l.log.Info("chord pressed", "path", d.path)
			l.w.Fire()
		case Next, Previous:
			l.log.Info("cycling chord pressed", "path", d.path, "next", a == Next)
			l.w.Cycle(a)
		case Resync:
			l.log.Warn("keyboard events dropped; reading its state again", "path", d.path)
			l.seed(fd)
		}
	}
	d.pending = append(d.pending[:0:0], b...)
}

// drop closes a keyboard and forgets the keys it held.
func (l *loop) drop(fd int, why string) {
	d := l.devices[fd]
	unix.EpollCtl(l.epoll, unix.EPOLL_CTL_DEL, fd, nil)
	unix.Close(fd)
	delete(l.devices, fd)
	delete(l.paths, d.path)
	l.chord.Forget(d.path)
	l.log.Info("keyboard removed", "path", d.path, "why", why)
}
