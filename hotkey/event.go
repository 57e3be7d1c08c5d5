package hotkey

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// EventSize is the size of one struct input_event as this process's kernel
// writes it: two longs of time, then type, code and value.
const EventSize = 2*wordSize + 8

const wordSize = strconv.IntSize / 8

// Event is one struct input_event of linux/input.h.
type Event struct {
	Time  time.Duration // the kernel's timestamp, from the epoch of its clock
	Type  uint16        // EV_SYN, EV_KEY, EV_MSC...
	Code  uint16        // SYN_REPORT, KEY_J...
	Value int32         // for EV_KEY: 0 up, 1 down, 2 autorepeat
}

// Decoder reads raw struct input_event records from an io.Reader: an
// evdev device, or a recording of one.
type Decoder struct {
	r   io.Reader
	buf [EventSize]byte
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: r}
}

// Next returns the next event. At the end of the stream it returns io.EOF;
// a stream that ends inside a record is io.ErrUnexpectedEOF.
func (d *Decoder) Next() (Event, error) {
	if _, err := io.ReadFull(d.r, d.buf[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Event{}, fmt.Errorf("input event record: %w", err)
		}
		return Event{}, err
	}
	return decodeEvent(d.buf[:]), nil
}

// decodeEvent decodes the first EventSize bytes of b.
func decodeEvent(b []byte) Event {
	sec, usec := word(b[0:]), word(b[wordSize:])
	rest := b[2*wordSize:]
	return Event{
		Time:  time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond,
		Type:  binary.NativeEndian.Uint16(rest[0:]),
		Code:  binary.NativeEndian.Uint16(rest[2:]),
		Value: int32(binary.NativeEndian.Uint32(rest[4:])),
	}
}

func word(b []byte) int64 {
	if wordSize == 4 {
		return int64(int32(binary.NativeEndian.Uint32(b)))
	}
	return int64(binary.NativeEndian.Uint64(b))
}

// AppendEvent appends ev to b as a raw struct input_event record, the
// inverse of Decoder.Next: for recordings and tests.
func AppendEvent(b []byte, ev Event) []byte {
	sec, usec := int64(ev.Time/time.Second), int64(ev.Time%time.Second/time.Microsecond)
	for _, w := range []int64{sec, usec} {
		if wordSize == 4 {
			b = binary.NativeEndian.AppendUint32(b, uint32(w))
		} else {
			b = binary.NativeEndian.AppendUint64(b, uint64(w))
		}
	}
	b = binary.NativeEndian.AppendUint16(b, ev.Type)
	b = binary.NativeEndian.AppendUint16(b, ev.Code)
	return binary.NativeEndian.AppendUint32(b, uint32(ev.Value))
}
