package menu

// Key is one key press the menu understands.
type Key int

// The keys. Anything else is KeyOther, which still stops the countdown.
const (
	KeyOther Key = iota
	KeyUp
	KeyDown
	KeyHome
	KeyEnd
	KeyEnter
	KeyShell // s: the host shell
	KeyInfo  // i, or the right arrow: the selected instance's last boots
	KeyBack  // Esc, q, Backspace, the left arrow: back to the list
)

// Decoder turns the bytes a terminal sends into keys: plain characters,
// and the escape sequences a Linux VT and the usual serial terminals send
// for the arrows, Home and End (CSI "ESC [" and SS3 "ESC O" forms). A
// sequence may arrive split over several reads.
type Decoder struct {
	seq []byte // an escape sequence under way, from its ESC
}

// maxSeq bounds an escape sequence: past it the bytes are dropped, so a
// stream of garbage cannot grow the decoder.
const maxSeq = 16

// Feed decodes b and returns the keys it completes.
func (d *Decoder) Feed(b []byte) []Key {
	var keys []Key
	for _, c := range b {
		if len(d.seq) == 1 && c != '[' && c != 'O' {
			// ESC then another key: the Esc key, and this byte starts anew.
			d.seq = nil
			keys = append(keys, KeyBack)
		}
		if k, ok := d.byte(c); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// Flush ends a lone ESC that no more bytes followed: the Esc key itself.
// The runner calls it when the terminal has been quiet for a moment.
func (d *Decoder) Flush() []Key {
	if len(d.seq) == 1 {
		d.seq = nil
		return []Key{KeyBack}
	}
	d.seq = nil
	return nil
}

func (d *Decoder) byte(c byte) (Key, bool) {
	if len(d.seq) == 0 {
		if c == 0x1b {
			d.seq = append(d.seq, c)
			return 0, false
		}
		return plainKey(c), true
	}
	if len(d.seq) == 1 { // ESC [ or ESC O: Feed handled any other byte
		d.seq = append(d.seq, c)
		return 0, false
	}
	d.seq = append(d.seq, c)
	// Parameters and intermediates are 0x20-0x3f; a final byte ends it.
	if c >= 0x20 && c <= 0x3f {
		if len(d.seq) > maxSeq {
			d.seq = nil
		}
		return 0, false
	}
	seq := string(d.seq)
	d.seq = nil
	return seqKey(seq), true
}

// plainKey and seqKey are two tables of the same shape, one per form a key
// arrives in (a byte, an escape sequence): data, not repeated logic.
func plainKey(c byte) Key {
	switch c {
	case '\r', '\n':
		return KeyEnter
	case 's', 'S':
		return KeyShell
	case 'i', 'I':
		return KeyInfo
	case 'q', 'Q', 0x7f, 0x08:
		return KeyBack
	case 'k':
		return KeyUp
	case 'j':
		return KeyDown
	}
	return KeyOther
}

func seqKey(seq string) Key {
	switch seq {
	case "\x1b[A", "\x1bOA":
		return KeyUp
	case "\x1b[B", "\x1bOB":
		return KeyDown
	case "\x1b[C", "\x1bOC":
		return KeyInfo
	case "\x1b[D", "\x1bOD":
		return KeyBack
	case "\x1b[H", "\x1bOH", "\x1b[1~", "\x1b[7~":
		return KeyHome
	case "\x1b[F", "\x1bOF", "\x1b[4~", "\x1b[8~":
		return KeyEnd
	case "\x1bOM":
		return KeyEnter // keypad Enter in application mode
	}
	return KeyOther
}
