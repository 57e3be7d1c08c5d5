package hotkey

import (
	"fmt"
	"slices"
	"strings"
)

// namedKeys are the keys a chord may name besides letters and digits
// (linux/input-event-codes.h).
var namedKeys = map[string]uint16{
	"pagedown": 109, "pageup": 104, "home": 102, "end": 107,
	"left": 105, "right": 106, "up": 103, "down": 108,
	"tab": 15, "space": 57, "insert": 110, "delete": 111,
	"f1": 59, "f2": 60, "f3": 61, "f4": 62, "f5": 63, "f6": 64,
	"f7": 65, "f8": 66, "f9": 67, "f10": 68, "f11": 87, "f12": 88,
}

// ParseChord reads a chord as the daemon's --switch-keys and the kernel
// command line name it: "ctrl+alt+KEY", the modifiers in any order, any
// case; KEY a letter, a digit or one of pagedown, pageup, home, end, left,
// right, up, down, tab, space, insert, delete, f1...f12. Only Ctrl+Alt
// chords exist; J is the host shell's.
func ParseChord(s string) (uint16, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "+")
	if len(parts) != 3 || !slices.Contains(parts[:2], "ctrl") || !slices.Contains(parts[:2], "alt") {
		return 0, fmt.Errorf("chord %q: write it ctrl+alt+KEY, such as ctrl+alt+pagedown", s)
	}
	key := parts[2]
	code, ok := namedKeys[key]
	switch {
	case ok:
	case len(key) == 1 && key[0] >= 'a' && key[0] <= 'z':
		code = letterKeys[key[0]-'a']
	case len(key) == 1 && key[0] >= '1' && key[0] <= '9':
		code = uint16(key[0]-'1') + 2 // KEY_1 is 2
	case key == "0":
		code = 11
	default:
		return 0, fmt.Errorf("chord %q: no key %q; use a letter, a digit, pagedown, pageup, home, end, the arrows, tab, space, insert, delete or f1-f12", s, key)
	}
	if code == ShellKey {
		return 0, fmt.Errorf("chord %q: Ctrl+Alt+J is the host shell's; choose another key", s)
	}
	return code, nil
}

// ParseSwitchKeys reads "NEXT,PREVIOUS", two chords of ParseChord.
func ParseSwitchKeys(s string) (next, prev uint16, err error) {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return 0, 0, fmt.Errorf("switch keys %q: give two chords, next and previous, such as ctrl+alt+pagedown,ctrl+alt+pageup", s)
	}
	if next, err = ParseChord(a); err != nil {
		return 0, 0, err
	}
	if prev, err = ParseChord(b); err != nil {
		return 0, 0, err
	}
	if next == prev {
		return 0, 0, fmt.Errorf("switch keys %q: next and previous are the same chord", s)
	}
	return next, prev, nil
}
