package console

import (
	"testing"

	"initns/vt"
)

// TestTakeChords: the daemon's chords (Ctrl+Alt+J, Ctrl+Alt+PgDn and
// PgUp) do nothing on the VTs while the Manager has them, are taken again
// at a switch after a keymap loaded meanwhile gave one back its meaning,
// and come back as they were with GiveBackChords, after which nothing
// takes them. This machine's own keymap, put back as it was.
func TestTakeChords(t *testing.T) {
	switchVTs(t)
	tty0, err := vt.Open("/dev/tty0")
	if err != nil {
		t.Fatal(err)
	}
	defer tty0.Close()
	const ctrlAlt = 4 | 8 // KG_CTRL | KG_ALT
	keys := []uint16{36, 109, 104}
	entries := func() []uint16 {
		var vs []uint16
		for _, k := range keys {
			v, err := tty0.Keymap(ctrlAlt, uint8(k))
			if err != nil {
				t.Fatal(err)
			}
			vs = append(vs, v)
		}
		return vs
	}
	before := entries()
	t.Cleanup(func() {
		for i, k := range keys {
			tty0.SetKeymap(ctrlAlt, uint8(k), before[i])
		}
	})
	// The kernel's defaults, whatever this machine loaded: Escape and
	// Linefeed, Next (PgDn), Prior (PgUp).
	want := []uint16{0x080a, 0x0119, 0x0118}
	for i, k := range keys {
		if err := tty0.SetKeymap(ctrlAlt, uint8(k), want[i]); err != nil {
			t.Fatal(err)
		}
	}

	m, _ := newManager(t, &fakeHost{}, Config{ChordKeys: keys})
	t.Cleanup(m.GiveBackChords) // before the entries above are put back
	m.TakeChords()
	if !tty0.CtrlAltSilent(keys...) {
		t.Fatalf("after TakeChords, Ctrl+Alt+J, PgDn, PgUp are %#x", entries())
	}
	tty0.SetKeymap(ctrlAlt, 109, 0x0119) // an instance loads a keymap
	m.Leave("a", &Screen{VT: vtB})
	if !tty0.CtrlAltSilent(keys...) {
		t.Fatalf("after a switch, Ctrl+Alt+J, PgDn, PgUp are %#x", entries())
	}
	m.GiveBackChords()
	if got := entries(); got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("after GiveBackChords: %#x, want %#x", got, want)
	}
	m.TakeChords()
	if got := entries(); got[0] != want[0] {
		t.Fatalf("TakeChords after GiveBackChords took them again: %#x", got)
	}
}
