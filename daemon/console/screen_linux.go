package console

import (
	"errors"

	"initns/vt"
)

// prepareSwitch looks at the VT in front and makes the switch to the
// shell's VT possible after the freeze:
//
//   - A VT held in VT_PROCESS mode (a display server of the instance) is
//     left only when its holder answers the release signal
//     (drivers/tty/vt/vt_ioctl.c, change_console); frozen, it never
//     would, and the switch would wait for the thaw. So in that case the
//     console switches first, while the holder can answer, and freezes
//     after.
//   - A VT in graphics mode with VT_AUTO is never left at all (the kernel
//     ignores the switch), so it is put in text mode first, as the kernel
//     does itself when a VT_PROCESS holder dies.
func (m *Manager) prepareSwitch(term *vt.Terminal) {
	active, err := term.Active()
	if err != nil || active == m.cfg.VT {
		return
	}
	front, err := vt.OpenVT(active)
	if err != nil {
		m.log.Warn("console: cannot inspect the VT in front", "vt", active, "err", err)
		return
	}
	defer front.Close()
	mode, err := front.SwitchMode()
	if err == nil && mode.Process {
		m.log.Info("console: the VT in front is held by a process; switching before the freeze", "vt", active)
		m.setupTerminal(term)
		m.front(term)
		return
	}
	if graphics, err := front.Graphics(); err == nil && graphics {
		m.log.Info("console: the VT in front is in graphics mode; setting text mode so the switch happens", "vt", active)
		if err := front.SetText(); err != nil {
			m.log.Warn("console: text mode on the VT in front", "vt", active, "err", err)
		}
	}
}

// setupTerminal makes the shell's VT fit for a person: text mode, Unicode
// keyboard, sane line settings.
func (m *Manager) setupTerminal(term *vt.Terminal) {
	err := errors.Join(term.SetText(), term.SetKeyboardMode(vt.KeyboardUnicode), term.SetSane())
	if err != nil {
		m.log.Warn("console: set up the host shell's VT", "err", err)
	}
}

// front brings the shell's VT to front. If the VT in front does not let
// go in time (its VT_PROCESS holder does not answer: frozen by `initns
// freeze`, or hung), it takes that VT and tries again: the host shell is
// the way out of a wedged instance and must always show.
func (m *Manager) front(term *vt.Terminal) {
	err := term.Activate(m.cfg.VT, m.cfg.SwitchTimeout)
	if errors.Is(err, vt.ErrSwitchTimeout) {
		m.takeFront(term)
		err = term.Activate(m.cfg.VT, m.cfg.SwitchTimeout)
	}
	if err != nil {
		m.log.Error("console: switch to the host shell's VT", "err", err)
	}
}

// takeFront resets the VT in front to VT_AUTO and text mode, what the
// kernel itself does when a VT_PROCESS holder dies (vt_ioctl.c, reset_vc),
// so the pending switch can complete. The holder finds its VT so when it
// runs again.
func (m *Manager) takeFront(term *vt.Terminal) {
	active, err := term.Active()
	if err != nil || active == m.cfg.VT {
		return
	}
	m.log.Warn("console: the VT in front does not let go; taking it", "vt", active, "timeout", m.cfg.SwitchTimeout)
	front, err := vt.OpenVT(active)
	if err != nil {
		m.log.Error("console: take the VT in front", "vt", active, "err", err)
		return
	}
	defer front.Close()
	if err := errors.Join(front.SetSwitchMode(vt.SwitchMode{}), front.SetText()); err != nil {
		m.log.Error("console: take the VT in front", "vt", active, "err", err)
	}
}

// home gives the console back to HomeVT, or to the VT of the instance
// that got the console meanwhile (Arrive), if the shell's VT is in front.
func (m *Manager) home(term *vt.Terminal) {
	m.mu.Lock()
	home := m.cfg.HomeVT
	if m.nextHome != 0 {
		home, m.nextHome = m.nextHome, 0
	}
	m.mu.Unlock()
	if active, err := term.Active(); err != nil || active != m.cfg.VT {
		return
	}
	if err := term.Activate(home, m.cfg.SwitchTimeout); err != nil {
		m.log.Error("console: switch back", "vt", home, "err", err)
	}
}

// refused is told of each switch away from the shell's VT that the
// VT_PROCESS holder refused.
func (m *Manager) refused() {
	m.log.Info("console: refused a switch away from the host shell; leave it with exit or initns run")
}
