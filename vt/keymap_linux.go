package vt

import (
	"errors"
	"fmt"
	"unsafe"
)

// The kernel's keymap, one for all VTs, says what each key does under
// each set of held modifiers (a table): a character, a string such as
// "\e[6~" for PgDn, an action such as Boot for Ctrl+Alt+Del, or nothing.
// The keyboard handler applies it as the key goes down, before any reader
// of the input device sees the event, and sends the result to the VT in
// front. A chord the daemon takes for itself (Ctrl+Alt+J, the cycling
// chords) would reach the program there too unless its entries say
// nothing: the kernel's own Ctrl+Alt+PgDn is PgDn, and its Ctrl+Alt+J is
// Escape and Linefeed.

// Request numbers and values from linux/kd.h and linux/keyboard.h.
const (
	kdGKBEnt = 0x4B46 // KDGKBENT: get a keymap entry
	kdSKBEnt = 0x4B47 // KDSKBENT: set a keymap entry

	kgShift = 1 << 0 // KG_SHIFT
	kgAltGr = 1 << 1 // KG_ALTGR
	kgCtrl  = 1 << 2 // KG_CTRL
	kgAlt   = 1 << 3 // KG_ALT
	kgCtrlL = 1 << 6 // KG_CTRLL: keymaps that tell the two Controls apart
	kgCtrlR = 1 << 7 // KG_CTRLR

	// KeyNothing is K_HOLE, the entry of a key that does nothing.
	KeyNothing = 0x0200
)

// ctrlAltTables are the keymap tables a Ctrl+Alt chord can be pressed
// in: either Control (a keymap may tell left and right apart), either Alt
// (the right one is AltGr in most keymaps) or both, with or without
// Shift.
func ctrlAltTables() []uint8 {
	var tables []uint8
	for _, ctrl := range []uint8{kgCtrl, kgCtrlL, kgCtrlR} {
		for _, alt := range []uint8{kgAlt, kgAltGr, kgAlt | kgAltGr} {
			for _, shift := range []uint8{0, kgShift} {
				tables = append(tables, ctrl|alt|shift)
			}
		}
	}
	return tables
}

// KeymapEntry is one entry of the kernel's keymap, laid out as struct
// kbentry of linux/kd.h (KDGKBENT and KDSKBENT take it).
type KeymapEntry struct {
	Table, Key uint8
	Value      uint16
}

// Keymap returns the entry of key (an evdev key code below 256) in table.
func (t *Terminal) Keymap(table, key uint8) (uint16, error) {
	e := KeymapEntry{Table: table, Key: key}
	if err := t.ioctl(func(fd int) error { return ioctlPtr(fd, kdGKBEnt, unsafe.Pointer(&e)) }); err != nil {
		return 0, fmt.Errorf("KDGKBENT %d/%d on %s: %w", table, key, t.path, err)
	}
	return e.Value, nil
}

// SetKeymap sets the entry of key in table.
func (t *Terminal) SetKeymap(table, key uint8, value uint16) error {
	e := KeymapEntry{Table: table, Key: key, Value: value}
	if err := t.ioctl(func(fd int) error { return ioctlPtr(fd, kdSKBEnt, unsafe.Pointer(&e)) }); err != nil {
		return fmt.Errorf("KDSKBENT %d/%d on %s: %w", table, key, t.path, err)
	}
	return nil
}

// CtrlAltSilent reports whether Ctrl+Alt+key, held the usual way (a
// Control and the left Alt), does nothing already for each of keys: a
// cheap check before SilenceCtrlAlt, since a keymap is loaded whole.
func (t *Terminal) CtrlAltSilent(keys ...uint16) bool {
	for _, key := range keys {
		if key > 255 {
			return false
		}
		if v, err := t.Keymap(kgCtrl|kgAlt, uint8(key)); err != nil || v != KeyNothing {
			return false
		}
	}
	return true
}

// SilenceCtrlAlt makes Ctrl+Alt+key do nothing on every VT, for each of
// keys (evdev key codes below 256), however the chord is held (see
// ctrlAltTables). It returns the entries it changed, as they were, for
// Restore; entries that did nothing already are left alone. An entry it
// cannot read or set is skipped and named in the error, the others are
// still done. (The kernel hides and refuses Unicode entries through a
// descriptor whose VT is not in Unicode mode.)
func (t *Terminal) SilenceCtrlAlt(keys ...uint16) ([]KeymapEntry, error) {
	var changed []KeymapEntry
	var errs []error
	for _, key := range keys {
		if key > 255 {
			errs = append(errs, fmt.Errorf("key code %d has no keymap entry", key))
			continue
		}
		for _, table := range ctrlAltTables() {
			v, err := t.Keymap(table, uint8(key))
			if err == nil && v != KeyNothing {
				err = t.SetKeymap(table, uint8(key), KeyNothing)
				if err == nil {
					changed = append(changed, KeymapEntry{Table: table, Key: uint8(key), Value: v})
				}
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return changed, errors.Join(errs...)
}

// Restore puts back keymap entries SilenceCtrlAlt returned, unless
// something changed them since (a keymap loaded meanwhile wins). Like
// SilenceCtrlAlt it goes past an entry it cannot put back.
func (t *Terminal) Restore(entries []KeymapEntry) error {
	var errs []error
	for _, e := range entries {
		v, err := t.Keymap(e.Table, e.Key)
		if err == nil && v == KeyNothing {
			err = t.SetKeymap(e.Table, e.Key, e.Value)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
