package console

import (
	"initns/vt"
)

// TakeChords makes the daemon's chords (Ctrl+Alt with each of
// Config.ChordKeys) reach no program on any VT: the kernel's keymap
// turns them into bytes for the VT in front as the keys go down, before
// the daemon reads the keyboard (Ctrl+Alt+J would give an instance's
// shell Escape and Linefeed, Ctrl+Alt+PgDn a PgDn). The keymap is the
// kernel's, one for all systems, and an instance may load its own: the
// daemon takes the chords again at every switch and every chord, so a
// keymap loaded meanwhile lets one press through at most. Safe to call
// from any goroutine.
func (m *Manager) TakeChords() {
	// Held throughout: a GiveBackChords meanwhile must not be undone.
	m.keymapMu.Lock()
	defer m.keymapMu.Unlock()
	if len(m.cfg.ChordKeys) == 0 || m.chordsGiven {
		return
	}
	tty0, err := vt.Open("/dev/tty0")
	if err != nil {
		return // no VTs: nothing reaches one
	}
	defer tty0.Close()
	if tty0.CtrlAltSilent(m.cfg.ChordKeys...) {
		return
	}
	changed, err := tty0.SilenceCtrlAlt(m.cfg.ChordKeys...)
	for _, e := range changed {
		if m.keymap == nil {
			m.keymap = map[[2]uint8]vt.KeymapEntry{}
		}
		m.keymap[[2]uint8{e.Table, e.Key}] = e
	}
	if err != nil {
		m.log.Warn("console: the chords may reach the instance in front", "err", err)
	}
	if len(changed) > 0 {
		m.log.Info("console: chords taken from the keymap", "entries", len(changed))
	}
}

// GiveBackChords puts back the keymap entries TakeChords changed, and
// TakeChords does nothing from then on: for a daemon that stops watching
// the keyboards, or ends on a running machine.
func (m *Manager) GiveBackChords() {
	m.keymapMu.Lock()
	defer m.keymapMu.Unlock()
	m.chordsGiven = true
	if len(m.keymap) == 0 {
		return
	}
	tty0, err := vt.Open("/dev/tty0")
	if err != nil {
		return
	}
	defer tty0.Close()
	entries := make([]vt.KeymapEntry, 0, len(m.keymap))
	for _, e := range m.keymap {
		entries = append(entries, e)
	}
	if err := tty0.Restore(entries); err != nil {
		m.log.Warn("console: give the chords back to the keymap", "err", err)
	}
	m.keymap = nil
}
