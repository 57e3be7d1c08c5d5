package hotkey

import "time"

// DefaultDebounce is how close two chords may be and count once: long
// enough to swallow the same key press reported by two event devices of
// one keyboard (or two keyboards pressed together), short enough that a
// person pressing the chord twice gets two.
const DefaultDebounce = 300 * time.Millisecond

// Action is what the caller must do after feeding an event to a Chord.
type Action int

const (
	// None: nothing to do.
	None Action = iota
	// Fire: the chord was pressed.
	Fire
	// Resync: the device lost events (SYN_DROPPED); read its key state
	// (EVIOCGKEY) and pass it to Seed.
	Resync
	// Next and Previous: a cycling chord was pressed (Bind), which gives
	// the console to the next or the previous system.
	Next
	Previous
)

// modifier bits of a device's held keys.
const (
	leftCtrl = 1 << iota
	rightCtrl
	leftAlt
	rightAlt

	anyCtrl = leftCtrl | rightCtrl
	anyAlt  = leftAlt | rightAlt
)

var modifierKeys = map[uint16]uint8{
	keyLeftCtrl: leftCtrl, keyRightCtrl: rightCtrl,
	keyLeftAlt: leftAlt, keyRightAlt: rightAlt,
}

// Chord recognises Ctrl+Alt+J, and the chords bound with Bind, across any
// number of keyboards. It fires when the key goes down (not on autorepeat)
// while some keyboard holds a Ctrl and some keyboard holds an Alt, once
// per press: a second press of the same key within the debounce time of
// its last fire, by event timestamp, is ignored. Other held keys (Shift,
// Meta) do not prevent the chord. A Chord is not safe for concurrent use;
// the zero value is not usable, call NewChord.
type Chord struct {
	debounce time.Duration
	devices  map[string]*keyboard
	keys     map[uint16]Action        // Ctrl+Alt+key does this
	last     map[uint16]time.Duration // timestamp of each key's last fire
}

// keyboard is what the chord knows of one device.
type keyboard struct {
	held     uint8 // modifier bits
	dropping bool  // after SYN_DROPPED, until the next SYN_REPORT
}

// NewChord returns a chord with no keys held and the given debounce time.
func NewChord(debounce time.Duration) *Chord {
	return &Chord{debounce: debounce, devices: map[string]*keyboard{},
		keys: map[uint16]Action{ShellKey: Fire}, last: map[uint16]time.Duration{}}
}

// Bind makes Ctrl+Alt+key answer a (Next or Previous). Ctrl+Alt+J keeps
// its meaning: binding J is ignored.
func (c *Chord) Bind(key uint16, a Action) {
	if key != ShellKey {
		c.keys[key] = a
	}
}

// Feed takes one event from device dev (any name that tells devices
// apart) and says what to do.
func (c *Chord) Feed(dev string, ev Event) Action {
	k := c.device(dev)
	switch {
	case ev.Type == evSyn && ev.Code == synDropped:
		// The kernel emptied its buffer: what this device holds is unknown
		// until it is read again. Holding nothing never fires by mistake.
		k.dropping, k.held = true, 0
		return None
	case k.dropping:
		// Events up to and including the next SYN_REPORT are a partial
		// frame (input-event-codes.rst, SYN_DROPPED): skip them.
		if ev.Type == evSyn && ev.Code == synReport {
			k.dropping = false
			return Resync
		}
		return None
	case ev.Type != evKey:
		return None
	}
	if m, ok := modifierKeys[ev.Code]; ok {
		if ev.Value == keyUp {
			k.held &^= m
		} else {
			k.held |= m
		}
		return None
	}
	if a, ok := c.keys[ev.Code]; ok && ev.Value == keyDown && c.holds(anyCtrl) && c.holds(anyAlt) {
		return c.fire(ev.Code, ev.Time, a)
	}
	return None
}

// fire applies the debounce. Devices are read in no particular order, so
// a duplicate may carry an earlier timestamp than the press that fired.
func (c *Chord) fire(key uint16, at time.Duration, a Action) Action {
	if last, ok := c.last[key]; ok && absDuration(at-last) < c.debounce {
		return None
	}
	c.last[key] = at
	return a
}

// Seed sets what device dev holds from its key state bitmap (EVIOCGKEY):
// when the device is first opened, and after Resync.
func (c *Chord) Seed(dev string, keys []byte) {
	k := c.device(dev)
	k.held, k.dropping = 0, false
	for code, m := range modifierKeys {
		if bit(keys, code) {
			k.held |= m
		}
	}
}

// Forget drops device dev, which is gone: the keys it held count no more.
func (c *Chord) Forget(dev string) {
	delete(c.devices, dev)
}

// holds reports whether any device holds one of the modifiers in mask.
func (c *Chord) holds(mask uint8) bool {
	for _, k := range c.devices {
		if k.held&mask != 0 {
			return true
		}
	}
	return false
}

func (c *Chord) device(dev string) *keyboard {
	k, ok := c.devices[dev]
	if !ok {
		k = &keyboard{}
		c.devices[dev] = k
	}
	return k
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
