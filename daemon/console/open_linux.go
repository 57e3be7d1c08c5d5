package console

import (
	"time"

	"initns/vt"
)

// open is the opening transition (phase opening): freeze, start the
// shell, switch to it. Every failure after the freeze undoes the freeze.
func (m *Manager) open() {
	start := time.Now()
	term, err := vt.OpenVT(m.cfg.VT)
	if err != nil {
		m.log.Error("console: cannot open the host shell's terminal", "err", err)
		m.undo(nil, nil, "")
		return
	}
	m.prepareSwitch(term)
	name, stuck, err := m.host.FreezeRunning(m.cfg.FreezeTimeout)
	frozen := m.logFreeze(name, stuck, err)
	if m.cancelled() {
		m.undo(term, nil, frozen)
		return
	}
	sh, err := m.startShell(term, banner(name, stuck, err, m.cfg))
	if err != nil {
		m.log.Error("console: cannot start the host shell", "err", err)
		m.undo(term, nil, frozen)
		return
	}
	sh.frozen = frozen
	m.show(sh)
	m.settle(sh, time.Since(start))
}

// show brings the shell's VT to front and holds it there.
func (m *Manager) show(sh *shell) {
	m.front(sh.term)
	hold, err := sh.term.Hold(m.refused)
	if err != nil {
		m.log.Error("console: cannot hold the host shell's VT", "err", err)
		return
	}
	sh.hold = hold
}

// settle ends the opening, which took took: the shell is open, unless
// EndShell came meanwhile, in which case the opening is undone.
func (m *Manager) settle(sh *shell, took time.Duration) {
	m.mu.Lock()
	if m.cancel {
		m.mu.Unlock()
		m.undo(sh.term, sh, sh.frozen)
		return
	}
	m.phase, m.sh = open, sh
	m.mu.Unlock()
	m.log.Info("console: host shell open", "pid", sh.pid, "vt", m.cfg.VT, "frozen", sh.frozen, "took", took)
	go m.watch(sh)
}

// logFreeze logs the freeze's outcome and returns the name of the
// instance that is frozen now, "" if none is.
func (m *Manager) logFreeze(name string, stuck []string, err error) string {
	switch {
	case err != nil:
		m.log.Error("console: freeze failed; opening the host shell anyway", "err", err)
		return ""
	case name == "":
		m.log.Info("console: no instance running")
		return ""
	case len(stuck) > 0:
		m.log.Warn("console: instance did not freeze in time and keeps running; opening the host shell anyway",
			"instance", name, "timeout", m.cfg.FreezeTimeout, "stuck", stuck)
		return ""
	}
	m.log.Info("console: instance frozen", "instance", name)
	return name
}

func (m *Manager) cancelled() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cancel
}

// undo unwinds an opening: the shell if it started, the VT, the freeze.
func (m *Manager) undo(term *vt.Terminal, sh *shell, frozen string) {
	if sh != nil {
		m.close(sh)
	} else if term != nil {
		m.home(term)
		term.Close()
	}
	m.thaw(frozen)
	m.toIdle()
	m.log.Info("console: host shell opening undone")
}

// close ends the shell's session, waits for the shell's own exit, gives
// the VT back to the kernel, switches to HomeVT, and closes sh.done.
func (m *Manager) close(sh *shell) {
	if err := endSession(m.cfg.Proc, sh.pid, hangupGrace, m.cfg.EndTimeout); err != nil {
		m.log.Error("console: the host shell's session did not end", "err", err)
	}
	if !sh.waitExit(m.cfg.EndTimeout) {
		m.log.Error("console: the host shell did not exit", "pid", sh.pid)
	}
	if sh.hold != nil {
		if err := sh.hold.Release(); err != nil {
			m.log.Error("console: release the host shell's VT", "err", err)
		}
	}
	sh.term.Close()
	m.giveBack()
	close(sh.done)
}

// giveBack switches to HomeVT and hangs up the shell's VT. It opens the VT
// anew: the end of the shell hung it up already (its session leader
// exited), and descriptors opened before fail with EIO. The hangup
// revokes every descriptor still open on the VT, so a process that left
// the session with setsid cannot read what is typed for the next shell.
func (m *Manager) giveBack() {
	term, err := vt.OpenVT(m.cfg.VT)
	if err != nil {
		m.log.Error("console: cannot switch back", "err", err)
		return
	}
	defer term.Close()
	m.home(term)
	if err := term.Hangup(); err != nil {
		m.log.Warn("console: hang up the host shell's VT", "err", err)
	}
}
