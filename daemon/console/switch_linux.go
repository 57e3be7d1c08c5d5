package console

import (
	"bytes"
	"errors"
	"time"

	"initns/vt"
)

// Screen is an instance's console as it left it at a switch (Leave), put
// back when it comes to front again (Arrive): the VT it had in front,
// that VT's keyboard and display mode, and what the VT showed (in text
// mode), which is also where an instance that writes only to
// /dev/console left its output.
type Screen struct {
	VT       int
	Keyboard vt.KeyboardMode
	Graphics bool
	Held     bool   // the VT was in VT_PROCESS mode (a display server)
	Cells    []byte // vt.Cells, in text mode
}

// Leave records the console of instance name, which has it and still
// runs. A display server holding its VT (VT_PROCESS) is asked to release
// it now, while it can answer, by a switch toward to, the arriving
// instance's Screen (through ParkVT when that is the same VT); one that
// does not answer within ReleaseTimeout is logged and its VT taken, so
// the freeze goes ahead anyway. A VT nobody holds is left as it is: the
// switch happens at Arrive, after the arriving instance's screen is put
// back out of sight. For a boot (to nil) the console goes to HomeVT now.
// With the host shell open, nothing is switched: the shell's opening did
// that before freezing, and its VT is in front.
func (m *Manager) Leave(name string, to *Screen) *Screen {
	m.TakeChords()
	s := m.leave(name, to)
	if s != nil {
		m.mu.Lock()
		m.lastLeft[s.VT] = name
		m.mu.Unlock()
	}
	return s
}

func (m *Manager) leave(name string, to *Screen) *Screen {
	tty0, err := vt.Open("/dev/tty0")
	if err != nil {
		m.log.Warn("console: no VTs; the console does not move", "instance", name, "err", err)
		return nil
	}
	defer tty0.Close()
	active, err := tty0.Active()
	if err != nil {
		m.log.Warn("console: which VT is in front", "err", err)
		return nil
	}
	if m.shellHolds() || active == m.cfg.VT {
		return m.record(m.cfg.HomeVT)
	}
	s := m.record(active)
	dest := m.cfg.HomeVT
	if to != nil {
		if !s.Held {
			return s
		}
		dest = to.VT
	}
	if dest == active {
		if !s.Held {
			return s
		}
		// Only a switch away makes the holder release: through the
		// parking VT, and back at Arrive.
		dest = m.cfg.ParkVT
	}
	m.leavable(active, s)
	start := time.Now()
	err = tty0.Activate(dest, m.cfg.ReleaseTimeout)
	if errors.Is(err, vt.ErrSwitchTimeout) {
		m.log.Warn("console: the instance did not release its VT in time; freezing it anyway", "instance", name, "vt", active, "timeout", m.cfg.ReleaseTimeout)
		m.takeFront(tty0)
		err = tty0.Activate(dest, m.cfg.SwitchTimeout)
	}
	if err != nil {
		m.log.Error("console: switch away from the instance", "instance", name, "vt", active, "to", dest, "err", err)
	}
	m.log.Info("console: left", "instance", name, "vt", active, "keyboard", s.Keyboard, "graphics", s.Graphics, "held", s.Held, "took", time.Since(start))
	return s
}

// Arrive puts back the console of instance name as Leave recorded it,
// before its thaw (the daemon's order): the keyboard and display mode of
// its VT, what the VT showed, then brings the VT to front, so a display
// server holding it is sent the acquire signal, which it takes as it
// thaws. Keys typed on the VT for it before it left are kept; keys
// another system left there since are dropped. s nil (a boot) changes
// nothing. With the host shell open, the VT comes to front when the shell
// ends, instead of HomeVT.
func (m *Manager) Arrive(name string, s *Screen) {
	if s == nil {
		return
	}
	start := time.Now()
	term, err := vt.OpenVT(s.VT)
	if err != nil {
		m.log.Error("console: the instance's VT", "instance", name, "vt", s.VT, "err", err)
		return
	}
	defer term.Close()
	// What is typed on a VT waits in its input queue for whoever reads it
	// next. Keys typed for another system, which left this VT since this
	// one did (two systems on tty1), are not this one's: a half-typed
	// password must not reach another system's login.
	m.mu.Lock()
	mine := m.lastLeft[s.VT] == name
	m.mu.Unlock()
	if !mine {
		if err := term.FlushInput(); err != nil {
			m.log.Warn("console: empty the keys another system left", "instance", name, "vt", s.VT, "err", err)
		}
	}
	// Setting a keyboard mode flushes the VT's input queue
	// (drivers/tty/vt/vt_ioctl.c, KDSKBMODE): only one another system
	// changed is set, so keys typed ahead for the instance and still
	// unread survive the round trip.
	if kb, err := term.KeyboardMode(); err != nil || kb != s.Keyboard {
		if err := term.SetKeyboardMode(s.Keyboard); err != nil {
			m.log.Warn("console: keyboard mode", "instance", name, "err", err)
		}
	}
	// Put back out of sight where it can be: drawing a VT in front costs
	// a repaint of the screen (long under emulation), and nothing when
	// the screen is what it was.
	if !s.Graphics && s.Cells != nil {
		if now, err := vt.Cells(s.VT); err != nil || !bytes.Equal(now, s.Cells) {
			if err := vt.SetCells(s.VT, s.Cells); err != nil {
				m.log.Warn("console: screen", "instance", name, "err", err)
			}
		}
	}
	m.setMode(s.VT, s.Graphics)
	if m.homeAfterShell(s.VT) {
		return
	}
	if active, err := term.Active(); err == nil && active != s.VT {
		m.leavable(active, m.modes(active))
	}
	if err := term.Activate(s.VT, m.cfg.SwitchTimeout); err != nil {
		m.log.Error("console: bring the instance's VT to front", "instance", name, "vt", s.VT, "err", err)
	}
	m.log.Info("console: arrived", "instance", name, "vt", s.VT, "took", time.Since(start))
}

// leavable makes the kernel switch away from VT n, recorded as s: it
// ignores a switch away from a graphics VT in VT_AUTO mode
// (drivers/tty/vt/vt_ioctl.c, change_console), so that VT is put in text
// mode first; its owner's mode is put back when it arrives again.
func (m *Manager) leavable(n int, s *Screen) {
	if s.Graphics && !s.Held {
		m.setMode(n, false)
	}
}

// record reads VT n's modes and, in text mode, what it shows.
func (m *Manager) record(n int) *Screen {
	s := m.modes(n)
	if !s.Graphics {
		if cells, err := vt.Cells(n); err == nil {
			s.Cells = cells
		}
	}
	return s
}

// modes reads VT n's keyboard, display and switch modes.
func (m *Manager) modes(n int) *Screen {
	s := &Screen{VT: n, Keyboard: vt.KeyboardUnicode}
	term, err := vt.OpenVT(n)
	if err != nil {
		m.log.Warn("console: record the VT", "vt", n, "err", err)
		return s
	}
	defer term.Close()
	if kb, err := term.KeyboardMode(); err == nil {
		s.Keyboard = kb
	}
	s.Graphics, _ = term.Graphics()
	if mode, err := term.SwitchMode(); err == nil {
		s.Held = mode.Process
	}
	return s
}

// setMode sets VT n's display mode, if it differs.
func (m *Manager) setMode(n int, graphics bool) {
	term, err := vt.OpenVT(n)
	if err != nil {
		return
	}
	defer term.Close()
	if now, err := term.Graphics(); err != nil || now == graphics {
		return
	}
	set := term.SetText
	if graphics {
		set = term.SetGraphics
	}
	if err := set(); err != nil {
		m.log.Warn("console: display mode", "vt", n, "graphics", graphics, "err", err)
	}
}

// shellHolds reports whether the host shell has the console (open, or
// being opened or closed).
func (m *Manager) shellHolds() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.phase != idle
}

// homeAfterShell makes the shell's end switch to VT n instead of HomeVT,
// if the shell has the console; it reports whether it does.
func (m *Manager) homeAfterShell(n int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.phase == idle {
		return false
	}
	m.nextHome = n
	return true
}
