package hotkey

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A script is a recorded event stream written as one key change per line:
//
//	DEVICE SECONDS KEY down|up|repeat [!] [resync=KEY,KEY]
//	DEVICE SECONDS dropped
//
// Each key line becomes the frame a real keyboard sends (EV_MSC MSC_SCAN,
// EV_KEY, EV_SYN SYN_REPORT); "dropped" is EV_SYN SYN_DROPPED. The frames
// are encoded as raw struct input_event records, one stream per device, and
// decoded again by Decoder before they reach the Chord. "!" marks the line
// whose frame must fire (Ctrl+Alt+J), "!next" and "!prev" the lines whose
// frame must cycle (PAGEDOWN and PAGEUP are bound); "resync=" marks the line whose frame must ask for
// a resync, and the keys the device holds then.
var chordScripts = []struct{ name, script string }{
	{"left modifiers", `
		kbd 1.00 LEFTCTRL down
		kbd 1.05 LEFTALT down
		kbd 1.10 J down !
		kbd 1.15 J up
		kbd 1.20 LEFTALT up
		kbd 1.25 LEFTCTRL up`},
	{"right modifiers", `
		kbd 1.00 RIGHTALT down
		kbd 1.05 RIGHTCTRL down
		kbd 1.10 J down !`},
	{"left ctrl right alt", `
		kbd 1.00 LEFTCTRL down
		kbd 1.05 RIGHTALT down
		kbd 1.10 J down !`},
	{"ctrl alone", `
		kbd 1.00 LEFTCTRL down
		kbd 1.10 J down`},
	{"alt alone", `
		kbd 1.00 RIGHTALT down
		kbd 1.10 J down`},
	{"j first", `
		kbd 1.00 J down
		kbd 1.05 LEFTCTRL down
		kbd 1.10 LEFTALT down
		kbd 1.15 J up`},
	{"another key", `
		kbd 1.00 LEFTCTRL down
		kbd 1.05 LEFTALT down
		kbd 1.10 K down`},
	{"across two keyboards", `
		left 1.00 LEFTCTRL down
		right 1.05 RIGHTALT down
		right 1.10 J down !`},
	{"j on a third keyboard", `
		a 1.00 LEFTCTRL down
		b 1.05 LEFTALT down
		c 1.10 J down !`},
	{"ctrl released before j", `
		kbd 1.00 LEFTCTRL down
		kbd 1.05 LEFTALT down
		kbd 1.10 LEFTCTRL up
		kbd 1.15 J down`},
	{"one of two ctrls released", `
		kbd 1.00 LEFTCTRL down
		kbd 1.01 RIGHTCTRL down
		kbd 1.05 LEFTALT down
		kbd 1.10 LEFTCTRL up
		kbd 1.15 J down !`},
	{"release order then again", `
		kbd 1.00 LEFTCTRL down
		kbd 1.05 LEFTALT down
		kbd 1.10 J down !
		kbd 1.20 LEFTCTRL up
		kbd 1.30 J up
		kbd 1.40 LEFTALT up
		kbd 2.00 LEFTALT down
		kbd 2.05 J down
		kbd 2.10 J up
		kbd 2.15 LEFTCTRL down
		kbd 2.20 J down !`},
	{"ctrl released on the other keyboard only", `
		a 1.00 LEFTCTRL down
		b 1.01 LEFTCTRL down
		b 1.05 LEFTALT down
		b 1.10 LEFTCTRL up
		b 1.15 J down !`},
	{"autorepeat of j", `
		kbd 1.00 LEFTCTRL down
		kbd 1.05 LEFTALT down
		kbd 1.10 J down !
		kbd 1.60 J repeat
		kbd 1.63 J repeat
		kbd 1.66 J repeat
		kbd 1.70 J up`},
	{"autorepeat of modifiers", `
		kbd 1.00 LEFTCTRL down
		kbd 1.50 LEFTCTRL repeat
		kbd 1.55 LEFTALT down
		kbd 2.00 LEFTALT repeat
		kbd 2.03 LEFTCTRL repeat
		kbd 2.10 J down !`},
	{"debounce of two keyboards", `
		a 1.00 LEFTCTRL down
		b 1.00 LEFTCTRL down
		a 1.05 LEFTALT down
		b 1.05 LEFTALT down
		a 1.100 J down !
		b 1.101 J down
		a 1.20 J up
		b 1.20 J up`},
	{"debounce with the later device read first", `
		a 1.00 LEFTCTRL down
		a 1.05 LEFTALT down
		b 1.102 J down !
		a 1.100 J down`},
	{"second chord after the debounce", `
		kbd 1.00 LEFTCTRL down
		kbd 1.05 LEFTALT down
		kbd 1.10 J down !
		kbd 1.20 J up
		kbd 1.45 J down !`},
	{"quick second press is swallowed", `
		kbd 1.00 LEFTCTRL down
		kbd 1.05 LEFTALT down
		kbd 1.10 J down !
		kbd 1.15 J up
		kbd 1.20 J down`},
	{"dropped then resync holding the modifiers", `
		kbd 1.00 LEFTCTRL down
		kbd 1.05 dropped
		kbd 1.06 LEFTALT down resync=LEFTCTRL,LEFTALT
		kbd 1.10 J down !`},
	{"dropped frame is ignored", `
		kbd 1.00 LEFTCTRL down
		kbd 1.05 LEFTALT down
		kbd 1.06 dropped
		kbd 1.07 J down resync=LEFTCTRL,LEFTALT
		kbd 1.20 J up
		kbd 1.50 J down !`},
	{"dropped then resync after release", `
		kbd 1.00 LEFTCTRL down
		kbd 1.05 LEFTALT down
		kbd 1.06 dropped
		kbd 1.07 LEFTCTRL up resync=LEFTALT
		kbd 1.10 J down`},
	{"dropped clears only that keyboard", `
		a 1.00 LEFTCTRL down
		b 1.05 RIGHTALT down
		b 1.06 dropped
		a 1.10 J down
		b 1.20 RIGHTALT up resync=
		b 1.30 RIGHTALT down
		a 1.40 J down !`},
	{"cycling chords", `
		kbd 1.00 LEFTCTRL down
		kbd 1.05 LEFTALT down
		kbd 1.10 PAGEDOWN down !next
		kbd 1.15 PAGEDOWN up
		kbd 1.20 PAGEUP down !prev
		kbd 1.25 PAGEUP up
		kbd 1.30 J down !
		kbd 1.35 J up`},
	{"cycling chord across keyboards, debounced per key", `
		a 1.00 RIGHTCTRL down
		b 1.01 RIGHTALT down
		b 1.100 PAGEDOWN down !next
		a 1.101 PAGEDOWN down
		b 1.102 J down !
		b 1.20 PAGEDOWN up
		b 1.50 PAGEDOWN down !next`},
	{"pagedown without alt", `
		kbd 1.00 LEFTCTRL down
		kbd 1.10 PAGEDOWN down
		kbd 1.15 PAGEDOWN repeat`},
}

var keyNames = map[string]uint16{
	"LEFTCTRL": keyLeftCtrl, "RIGHTCTRL": keyRightCtrl,
	"LEFTALT": keyLeftAlt, "RIGHTALT": keyRightAlt,
	"J": ShellKey, "K": 37, "PAGEDOWN": 109, "PAGEUP": 104,
}

var keyValues = map[string]int32{"up": keyUp, "down": keyDown, "repeat": keyRepeat}

// step is one script line: its frame and what it must cause.
type step struct {
	dev    string
	events int
	fire   Action // None, Fire, Next or Previous
	resync []byte // EVIOCGKEY state, nil when no resync is expected
}

func TestChordScripts(t *testing.T) {
	for _, sc := range chordScripts {
		t.Run(sc.name, func(t *testing.T) {
			steps, streams := compile(t, sc.script)
			run(t, steps, streams)
		})
	}
}

// run decodes each device's stream and feeds the steps in script order.
func run(t *testing.T, steps []step, streams map[string]*bytes.Buffer) {
	t.Helper()
	c := NewChord(DefaultDebounce)
	c.Bind(keyNames["PAGEDOWN"], Next)
	c.Bind(keyNames["PAGEUP"], Previous)
	c.Bind(ShellKey, Next) // ignored: J stays the host shell's
	dec := map[string]*Decoder{}
	for dev, s := range streams {
		dec[dev] = NewDecoder(s)
		c.Seed(dev, nil)
	}
	for i, st := range steps {
		fired, resynced := None, false
		for range st.events {
			ev, err := dec[st.dev].Next()
			if err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			switch a := c.Feed(st.dev, ev); a {
			case Fire, Next, Previous:
				fired = a
			case Resync:
				if st.resync == nil {
					t.Fatalf("line %d: unexpected resync", i+1)
				}
				resynced = true
				c.Seed(st.dev, st.resync)
			}
		}
		if fired != st.fire {
			t.Errorf("line %d: fired = %v, want %v", i+1, fired, st.fire)
		}
		if resynced != (st.resync != nil) {
			t.Errorf("line %d: resync = %v, want %v", i+1, resynced, st.resync != nil)
		}
	}
	for dev, d := range dec {
		if _, err := d.Next(); err != io.EOF {
			t.Errorf("%s: stream not consumed: %v", dev, err)
		}
	}
}

func compile(t *testing.T, script string) ([]step, map[string]*bytes.Buffer) {
	t.Helper()
	var steps []step
	streams := map[string]*bytes.Buffer{}
	for _, line := range strings.Split(strings.TrimSpace(script), "\n") {
		f := strings.Fields(line)
		sec, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		at := time.Duration(sec * float64(time.Second))
		if streams[f[0]] == nil {
			streams[f[0]] = &bytes.Buffer{}
		}
		frame, st := compileLine(t, f, at)
		st.dev = f[0]
		streams[f[0]].Write(frame)
		steps = append(steps, st)
	}
	return steps, streams
}

func compileLine(t *testing.T, f []string, at time.Duration) ([]byte, step) {
	if f[2] == "dropped" {
		return AppendEvent(nil, Event{Time: at, Type: evSyn, Code: synDropped}), step{events: 1}
	}
	code, ok := keyNames[f[2]]
	value, ok2 := keyValues[f[3]]
	if !ok || !ok2 {
		t.Fatalf("bad line %q", f)
	}
	var b []byte
	b = AppendEvent(b, Event{Time: at, Type: 4, Code: 4, Value: 0x70000 + int32(code)}) // EV_MSC MSC_SCAN
	b = AppendEvent(b, Event{Time: at, Type: evKey, Code: code, Value: value})
	b = AppendEvent(b, Event{Time: at, Type: evSyn, Code: synReport})
	st := step{events: 3}
	for _, extra := range f[4:] {
		switch {
		case extra == "!":
			st.fire = Fire
		case extra == "!next":
			st.fire = Next
		case extra == "!prev":
			st.fire = Previous
		case strings.HasPrefix(extra, "resync="):
			st.resync = keyBitmap(t, strings.Split(strings.TrimPrefix(extra, "resync="), ","))
		default:
			t.Fatalf("bad line %q", f)
		}
	}
	return b, st
}

// keyBitmap builds an EVIOCGKEY bitmap of the named keys.
func keyBitmap(t *testing.T, names []string) []byte {
	var codes []uint16
	for _, n := range names {
		if n == "" {
			continue
		}
		code, ok := keyNames[n]
		if !ok {
			t.Fatalf("unknown key %q", n)
		}
		codes = append(codes, code)
	}
	return bitmapOf(codes...)
}

func TestParseChord(t *testing.T) {
	good := map[string]uint16{"ctrl+alt+pagedown": 109, "Alt+Ctrl+PageUp": 104, "ctrl+alt+k": 37, "ctrl+alt+1": 2, "ctrl+alt+0": 11, "ctrl+alt+f12": 88}
	for s, want := range good {
		if got, err := ParseChord(s); err != nil || got != want {
			t.Errorf("ParseChord(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "pagedown", "ctrl+pagedown", "ctrl+shift+pagedown", "ctrl+alt+j", "ctrl+alt+nosuchkey", "ctrl+alt+alt", "ctrl+alt+x+y"} {
		if _, err := ParseChord(s); err == nil {
			t.Errorf("ParseChord(%q): no error", s)
		}
	}
	if n, p, err := ParseSwitchKeys("ctrl+alt+pagedown,ctrl+alt+pageup"); err != nil || n != 109 || p != 104 {
		t.Errorf("ParseSwitchKeys of the default = %d %d %v", n, p, err)
	}
	for _, s := range []string{"ctrl+alt+pagedown", "ctrl+alt+a,ctrl+alt+a", "ctrl+alt+a,ctrl+alt+j"} {
		if _, _, err := ParseSwitchKeys(s); err == nil {
			t.Errorf("ParseSwitchKeys(%q): no error", s)
		}
	}
}

func TestForgetDropsHeldKeys(t *testing.T) {
	c := NewChord(DefaultDebounce)
	c.Feed("a", Event{Type: evKey, Code: keyLeftCtrl, Value: keyDown})
	c.Feed("b", Event{Type: evKey, Code: keyLeftAlt, Value: keyDown})
	c.Forget("a")
	if got := c.Feed("b", Event{Time: time.Second, Type: evKey, Code: ShellKey, Value: keyDown}); got != None {
		t.Fatalf("J after the Ctrl keyboard was removed: %v, want None", got)
	}
}

func TestSeedHoldsModifiers(t *testing.T) {
	c := NewChord(DefaultDebounce)
	c.Seed("a", keyBitmap(t, []string{"RIGHTCTRL", "LEFTALT", "K"}))
	if got := c.Feed("a", Event{Type: evKey, Code: ShellKey, Value: keyDown}); got != Fire {
		t.Fatalf("J with seeded Ctrl+Alt: %v, want Fire", got)
	}
}

func TestDecoderLayout(t *testing.T) {
	// One KEY_J press at 1700000000.250000 as the x86-64 kernel writes it.
	raw := []byte{
		0x00, 0xf1, 0x53, 0x65, 0, 0, 0, 0, // tv_sec 1700000000
		0x90, 0xd0, 0x03, 0x00, 0, 0, 0, 0, // tv_usec 250000
		0x01, 0x00, 0x24, 0x00, // EV_KEY, KEY_J
		0x01, 0x00, 0x00, 0x00, // value 1
	}
	if wordSize != 8 || EventSize != len(raw) {
		t.Fatalf("this test is written for 64-bit little-endian machines")
	}
	ev, err := NewDecoder(bytes.NewReader(raw)).Next()
	if err != nil {
		t.Fatal(err)
	}
	want := Event{Time: 1700000000*time.Second + 250*time.Millisecond, Type: evKey, Code: ShellKey, Value: 1}
	if ev != want {
		t.Fatalf("decoded %+v, want %+v", ev, want)
	}
	if got := AppendEvent(nil, want); !bytes.Equal(got, raw) {
		t.Fatalf("AppendEvent = % x, want % x", got, raw)
	}
}

func TestDecoderTruncated(t *testing.T) {
	raw := AppendEvent(nil, Event{Type: evKey, Code: ShellKey, Value: 1})
	d := NewDecoder(bytes.NewReader(raw[:EventSize-3]))
	if _, err := d.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated record: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := NewDecoder(bytes.NewReader(nil)).Next(); err != io.EOF {
		t.Fatalf("empty stream: %v, want io.EOF", err)
	}
}

func TestIsKeyboard(t *testing.T) {
	ev := bitmapOf(evSyn, evKey, 4, 0x11, 0x14) // SYN KEY MSC LED REP
	letters := bitmapOf(letterKeys...)
	mouse := bitmapOf(0x110, 0x111, 0x112) // BTN_LEFT BTN_RIGHT BTN_MIDDLE
	if !IsKeyboard(ev, letters) {
		t.Error("a keyboard is not one")
	}
	if IsKeyboard(bitmapOf(evSyn, evKey, 2), mouse) {
		t.Error("a mouse is a keyboard")
	}
	if IsKeyboard(bitmapOf(evSyn, evKey), bitmapOf(116)) { // KEY_POWER
		t.Error("a power button is a keyboard")
	}
	if IsKeyboard(bitmapOf(evKey), letters) {
		t.Error("a device without EV_SYN is a keyboard")
	}
	if IsKeyboard(ev, bitmapOf(letterKeys[1:]...)) {
		t.Error("a device without KEY_A is a keyboard")
	}
}

// bitmapOf builds a kernel bitmap (longs in the machine's order, as
// EVIOCGBIT and EVIOCGKEY return it) with the given bits set.
func bitmapOf(codes ...uint16) []byte {
	bits := uint16(wordSize * 8)
	words := make([]uint64, (keyMax+1)/int(bits))
	for _, c := range codes {
		words[c/bits] |= 1 << (c % bits)
	}
	var b []byte
	for _, w := range words {
		if wordSize == 4 {
			b = binary.NativeEndian.AppendUint32(b, uint32(w))
		} else {
			b = binary.NativeEndian.AppendUint64(b, w)
		}
	}
	return b
}
