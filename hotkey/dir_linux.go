package hotkey

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// What the loop watches: in Dir, event devices coming (a new node, a node
// moved in, or udev changing its owner or mode) and going, and Dir itself
// going; in an ancestor, anything that might be Dir or its parent coming.
const (
	dirMask = unix.IN_CREATE | unix.IN_ATTRIB | unix.IN_MOVED_TO | unix.IN_DELETE |
		unix.IN_MOVED_FROM | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR
	parentMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_DELETE_SELF |
		unix.IN_MOVE_SELF | unix.IN_ONLYDIR
)

// arm watches Dir and opens the keyboards in it; if Dir does not exist, it
// watches the nearest ancestor that does, to try again when that changes.
func (l *loop) arm() error {
	for {
		wd, err := unix.InotifyAddWatch(l.inotify, l.w.Dir, dirMask)
		if err == nil {
			l.dirWd = wd
			l.unwatchParent()
			l.scan()
			return nil
		}
		if !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("watch %s: %w", l.w.Dir, err)
		}
		ready, err := l.watchParent()
		if err != nil || !ready {
			return err
		}
		// Dir appeared between the two inotify_add_watch: go round again.
	}
}

// watchParent watches Dir's nearest existing ancestor. It reports whether
// Dir exists after all, in which case the caller must try Dir again.
func (l *loop) watchParent() (bool, error) {
	parent := filepath.Dir(l.w.Dir)
	for {
		wd, err := unix.InotifyAddWatch(l.inotify, parent, parentMask)
		if err == nil {
			if l.parentWd != wd {
				l.unwatchParent()
				l.log.Info("waiting for the input device directory", "dir", l.w.Dir, "watching", parent)
			}
			l.parentWd = wd
			break
		}
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) || parent == "/" || parent == "." {
			return false, fmt.Errorf("watch %s, waiting for %s: %w", parent, l.w.Dir, err)
		}
		parent = filepath.Dir(parent)
	}
	_, err := os.Stat(l.w.Dir)
	return err == nil, nil
}

func (l *loop) unwatchParent() {
	if l.parentWd >= 0 {
		unix.InotifyRmWatch(l.inotify, uint32(l.parentWd))
		l.parentWd = -1
	}
}

// scan opens every keyboard in Dir that is not open yet.
func (l *loop) scan() {
	entries, err := os.ReadDir(l.w.Dir)
	if err != nil {
		l.log.Warn("read input device directory", "dir", l.w.Dir, "err", err)
		return
	}
	for _, e := range entries {
		if isEventDevice(e.Name()) {
			l.open(filepath.Join(l.w.Dir, e.Name()))
		}
	}
}

// isEventDevice accepts evdev nodes (eventN) and nothing else of
// /dev/input: not the legacy mouseN, mice or jsN, nor udev's by-id links.
func isEventDevice(name string) bool {
	n, ok := strings.CutPrefix(name, "event")
	if !ok || n == "" {
		return false
	}
	return strings.Trim(n, "0123456789") == ""
}

// readInotify handles every queued inotify event.
func (l *loop) readInotify() error {
	for {
		n, err := unix.Read(l.inotify, l.inbuf)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read inotify: %w", err)
		}
		for b := l.inbuf[:n]; len(b) >= unix.SizeofInotifyEvent; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
			end := unix.SizeofInotifyEvent + int(ev.Len)
			name := strings.TrimRight(string(b[unix.SizeofInotifyEvent:end]), "\x00")
			if err := l.inotifyEvent(int(ev.Wd), ev.Mask, name); err != nil {
				return err
			}
			b = b[end:]
		}
	}
}

func (l *loop) inotifyEvent(wd int, mask uint32, name string) error {
	switch {
	case mask&unix.IN_Q_OVERFLOW != 0:
		// Events were lost: look again at the directory, or for it.
		if l.dirWd >= 0 {
			l.scan()
			return nil
		}
		return l.arm()
	case wd == l.dirWd && wd >= 0:
		return l.dirEvent(mask, name)
	case wd == l.parentWd && wd >= 0:
		if mask&unix.IN_IGNORED != 0 {
			l.parentWd = -1
		}
		return l.arm()
	}
	return nil
}

func (l *loop) dirEvent(mask uint32, name string) error {
	path := filepath.Join(l.w.Dir, name)
	switch {
	case mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED) != 0:
		// Dir went away: its devices go with it; wait for it again.
		l.log.Info("input device directory removed", "dir", l.w.Dir)
		if mask&unix.IN_IGNORED == 0 {
			unix.InotifyRmWatch(l.inotify, uint32(l.dirWd))
		}
		l.dirWd = -1
		for fd := range l.devices {
			l.drop(fd, "directory removed")
		}
		return l.arm()
	case !isEventDevice(name):
	case mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0:
		if fd, ok := l.paths[path]; ok {
			l.drop(fd, "removed")
		}
	default:
		l.open(path)
	}
	return nil
}
