package gz

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"initns/archive/internal/ahead"
)

const (
	inSize   = 512 << 10 // input read at a time
	inKeep   = 8         // input kept before the read position: the bit buffer's bytes
	outSlack = 16        // room past a buffer's end for whole-word match copies
)

// CorruptError reports DEFLATE or gzip data that cannot be decoded, at a
// byte offset of the compressed input.
type CorruptError struct {
	Offset int64
	What   string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("gzip: corrupt data at byte %d: %s", e.Offset, e.What)
}

// inflater decodes DEFLATE blocks from its input into output buffers of
// bufSize bytes (plus slack), handing each full one over through next and
// going on in the next buffer from a copy of the last 32 KiB of history.
//
// Bits are read from a 64-bit buffer (bb) refilled eight bytes at a time in
// the fast loop; the bits above nb are the true next bits of the input (the
// byte at ip, partly loaded), so later refills OR over them harmlessly.
// Near the end of the input or of an output buffer, symbols are decoded one
// at a time with byte-wise refills (the slow path), which also reads more
// input and pads the end of the input with zeros, counted in overread so
// that consuming them is reported as truncation.
type inflater struct {
	r        io.Reader
	in       []byte // in[ip:] is unread input; in[:ip] the inKeep bytes before
	ip       int
	consumed int64 // input bytes dropped from the front of in
	eof      bool
	rerr     error // the input's error, other than io.EOF
	overread int   // zero bytes added past the end of the input

	bb uint64
	nb uint

	out   []byte // current output buffer
	op    int    // next output position
	start int    // out[start:op] is not yet emitted
	base  int    // the member's first byte, or 0: back-references stop here
	crcAt int    // out[crcAt:op] is not yet in crc
	crc   uint32
	size  uint32 // the member's output size mod 2^32

	bufSize int
	// next hands over out[start:op] and returns a buffer to continue in.
	next ahead.Send

	litlen  [litlenTableSize]uint32
	dist    [distTableSize]uint32
	precode [1 << precodeBits]uint32
	lens    [288 + 32]uint8
}

func (f *inflater) corrupt(what string) error {
	return &CorruptError{Offset: f.offset(), What: what}
}

// offset is the input position of the next unread bit, in bytes.
func (f *inflater) offset() int64 {
	return f.consumed + int64(f.ip) - int64(f.nb/8) + int64(f.overread)
}

// more reads more input, keeping inKeep bytes before ip. It reports whether
// any arrived.
func (f *inflater) more() bool {
	if f.eof {
		return false
	}
	keep := min(f.ip, inKeep)
	drop := f.ip - keep
	n := copy(f.in[:cap(f.in)], f.in[drop:])
	f.in = f.in[:n]
	f.ip = keep
	f.consumed += int64(drop)
	for {
		m, err := f.r.Read(f.in[n:cap(f.in)])
		f.in = f.in[:n+m]
		if err != nil {
			f.eof = true
			if err != io.EOF {
				f.rerr = err
			}
			return m > 0
		}
		if m > 0 {
			return true
		}
	}
}

// truncated is the error for input that ended too soon.
func (f *inflater) truncated() error {
	if f.rerr != nil {
		return f.rerr
	}
	return io.ErrUnexpectedEOF
}

// fill makes nb at least n (n <= 56), padding past the end of input with
// zeros.
func (f *inflater) fill(n uint) {
	for f.nb < n {
		if f.ip == len(f.in) && !f.more() {
			f.overread++
			f.nb += 8
			continue
		}
		f.bb |= uint64(f.in[f.ip]) << f.nb
		f.ip++
		f.nb += 8
	}
}

// overrun reports whether padding past the end of input has been consumed.
func (f *inflater) overrun() bool {
	return f.overread > 0 && uint(f.overread)*8 > f.nb
}

// bits reads n bits (n <= 32).
func (f *inflater) bits(n uint) (uint32, error) {
	f.fill(n)
	v := uint32(f.bb & (1<<n - 1))
	f.bb >>= n
	f.nb -= n
	if f.overrun() {
		return 0, f.truncated()
	}
	return v, nil
}

// align drops the bits up to the next byte boundary and gives the whole
// bytes left in the bit buffer back to the input.
func (f *inflater) align() error {
	f.nb &^= 7
	back := int(f.nb / 8)
	pad := min(back, f.overread)
	f.overread -= pad
	f.ip -= back - pad
	f.bb, f.nb = 0, 0
	if f.overread > 0 {
		return f.truncated()
	}
	return nil
}

// byte reads one byte (after align).
func (f *inflater) byte() (byte, error) {
	if f.ip == len(f.in) && !f.more() {
		return 0, f.truncated()
	}
	b := f.in[f.ip]
	f.ip++
	return b, nil
}

// readAligned skips to the next byte boundary and fills p from there.
func (f *inflater) readAligned(p []byte) error {
	if err := f.align(); err != nil {
		return err
	}
	return f.read(p)
}

// read fills p with the next bytes (after align).
func (f *inflater) read(p []byte) error {
	for i := range p {
		b, err := f.byte()
		if err != nil {
			return err
		}
		p[i] = b
	}
	return nil
}

// atEOF reports whether the input is exhausted (after align).
func (f *inflater) atEOF() bool {
	return f.ip == len(f.in) && !f.more()
}

// member decodes one DEFLATE stream; the gzip header has been read.
func (f *inflater) member() error {
	tables()
	f.base, f.crcAt, f.crc, f.size = f.op, f.op, 0, 0
	for {
		hdr, err := f.bits(3)
		if err != nil {
			return err
		}
		switch hdr >> 1 {
		case 0:
			err = f.stored()
		case 1:
			err = f.huffman(&fixedLitlen, &fixedDist)
		case 2:
			if err = f.dynamicTables(); err == nil {
				err = f.huffman(&f.litlen, &f.dist)
			}
		default:
			err = f.corrupt("reserved block type")
		}
		if err != nil {
			return err
		}
		if hdr&1 != 0 {
			f.sum()
			return nil
		}
	}
}

// sum adds the output not yet checksummed to the member's CRC and size.
func (f *inflater) sum() {
	f.crc = crc32.Update(f.crc, crc32.IEEETable, f.out[f.crcAt:f.op])
	f.size += uint32(f.op - f.crcAt)
	f.crcAt = f.op
}

// flush hands over the output so far and continues in a new buffer that
// starts with the last maxDist bytes of history.
func (f *inflater) flush() error {
	f.sum()
	hist := min(f.op-f.base, maxDist)
	nb, err := f.next(f.out, f.out[f.start:f.op])
	if err != nil {
		return err
	}
	copy(nb, f.out[f.op-hist:f.op])
	f.out, f.op, f.start, f.base, f.crcAt = nb, hist, hist, 0, hist
	return nil
}

func (f *inflater) stored() error {
	var h [4]byte
	if err := f.readAligned(h[:]); err != nil {
		return err
	}
	n := int(binary.LittleEndian.Uint16(h[0:]))
	if uint16(n) != ^binary.LittleEndian.Uint16(h[2:]) {
		return f.corrupt("stored block length does not match its complement")
	}
	for n > 0 {
		if f.ip == len(f.in) && !f.more() {
			return f.truncated()
		}
		if f.op == f.bufSize {
			if err := f.flush(); err != nil {
				return err
			}
		}
		c := copy(f.out[f.op:f.bufSize], f.in[f.ip:min(len(f.in), f.ip+n)])
		f.op += c
		f.ip += c
		n -= c
	}
	return nil
}

// dynamicTables reads the code lengths of a dynamic block (RFC 1951
// 3.2.7) and builds its tables.
func (f *inflater) dynamicTables() error {
	h, err := f.bits(14)
	if err != nil {
		return err
	}
	nlit, ndist, nclen := int(h&31)+257, int(h>>5&31)+1, int(h>>10)+4
	if nlit > 286 || ndist > 30 {
		return f.corrupt("too many literal/length or distance codes")
	}
	var clens [19]uint8
	for i := range nclen {
		v, err := f.bits(3)
		if err != nil {
			return err
		}
		clens[precodeOrder[i]] = uint8(v)
	}
	if build(f.precode[:], clens[:], precodeBits, precodeEntries[:]) != nil {
		return f.corrupt("invalid code length code")
	}
	lens := f.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		f.fill(precodeBits + 7)
		e := f.symbol(f.precode[:], precodeBits)
		if e&fInvalid != 0 {
			return f.corrupt("invalid code length")
		}
		if f.overrun() {
			return f.truncated()
		}
		sym := e >> 16
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return f.corrupt("repeated code length without a previous one")
			}
			v, _ := f.bits(2)
			rep, val = 3+int(v), lens[i-1]
		case 17:
			v, _ := f.bits(3)
			rep = 3 + int(v)
		default:
			v, _ := f.bits(7)
			rep = 11 + int(v)
		}
		if f.overrun() {
			return f.truncated()
		}
		if i+rep > len(lens) {
			return f.corrupt("code lengths run past the last code")
		}
		for range rep {
			lens[i] = val
			i++
		}
	}
	if lens[256] == 0 {
		return f.corrupt("no end-of-block code")
	}
	if build(f.litlen[:], lens[:nlit], litlenBits, litlenEntries[:]) != nil {
		return f.corrupt("invalid literal/length code")
	}
	if build(f.dist[:], lens[nlit:], distBits, distEntries[:]) != nil {
		return f.corrupt("invalid distance code")
	}
	return nil
}

// huffman decodes a block's symbols up to its end-of-block code.
func (f *inflater) huffman(lt *[litlenTableSize]uint32, dt *[distTableSize]uint32) error {
	for {
		if f.op > f.bufSize-maxMatch {
			if err := f.flush(); err != nil {
				return err
			}
		}
		if len(f.in)-f.ip < 8 {
			f.more()
		}
		if len(f.in)-f.ip >= 8 {
			done, err := f.fast(lt, dt)
			if done || err != nil {
				return err
			}
			continue
		}
		done, err := f.slow(lt, dt)
		if done || err != nil {
			return err
		}
	}
}

// fast decodes symbols while eight bytes of input can be loaded at once and
// a longest match fits in the output buffer. It reports whether it reached
// the block's end.
func (f *inflater) fast(lt *[litlenTableSize]uint32, dt *[distTableSize]uint32) (bool, error) {
	bb, nb := f.bb, f.nb
	in, ip := f.in, f.ip
	out, op := f.out, f.op
	base := f.base
	inLimit, outLimit := len(in)-8, f.bufSize-maxMatch
	done, bad := false, ""
	for ip <= inLimit && op <= outLimit {
		// At least 48 bits: a literal/length code (15), its extra
		// bits (5), a distance code (15) and its extra bits (13).
		if nb < 48 {
			bb |= binary.LittleEndian.Uint64(in[ip:]) << (nb & 63)
			ip += int(63-nb) >> 3
			nb |= 56
		}
		e := lt[bb&(1<<litlenBits-1)]
		if e&fSubtable != 0 {
			bb >>= litlenBits
			nb -= litlenBits
			e = lt[(e>>16+uint32(bb)&(1<<(e>>8&15)-1))&(litlenTableSize-1)]
		}
		bb >>= e & 63
		nb -= uint(e & 0xff)
		if e&fLiteral != 0 {
			out[op] = byte(e >> 16)
			op++
			// Literals come in runs: a second one needs no refill
			// (33 bits are left) and no subtable (a literal entry is
			// not a subtable pointer).
			if e = lt[bb&(1<<litlenBits-1)]; e&fLiteral != 0 {
				bb >>= e & 63
				nb -= uint(e & 0xff)
				out[op] = byte(e >> 16)
				op++
			}
			continue
		}
		if e&(fEOB|fInvalid) != 0 {
			if e&fInvalid != 0 {
				bad = badLitlen
			}
			done = true
			break
		}
		x := e >> 8 & 15
		length := int(e>>16) + int(bb&(1<<x-1))
		bb >>= x
		nb -= uint(x)

		// The distance is looked up as the literal/length above, written
		// out again rather than shared: this is the inner loop, where bb
		// and nb stay in registers, and a helper would have to take and
		// return them for every symbol.
		d := dt[bb&(1<<distBits-1)]
		if d&fSubtable != 0 {
			bb >>= distBits
			nb -= distBits
			d = dt[(d>>16+uint32(bb)&(1<<(d>>8&15)-1))&(distTableSize-1)]
		}
		bb >>= d & 63
		nb -= uint(d & 0xff)
		if d&fInvalid != 0 {
			bad = badDist
			break
		}
		x = d >> 8 & 15
		dist := int(d>>16) + int(bb&(1<<x-1))
		bb >>= x
		nb -= uint(x)
		if dist > op-base {
			bad = farBack
			break
		}
		if dist >= 8 && length <= 16 {
			// The most common match, inline: two words.
			o, s := out[op:op+16], out[op-dist:op-dist+16]
			binary.LittleEndian.PutUint64(o, binary.LittleEndian.Uint64(s))
			binary.LittleEndian.PutUint64(o[8:], binary.LittleEndian.Uint64(s[8:]))
		} else {
			copyMatch(out, op, dist, length)
		}
		op += length
	}
	f.bb, f.nb, f.ip, f.op = bb, nb, ip, op
	if bad != "" {
		return true, f.corrupt(bad)
	}
	return done, nil
}

// What a CorruptError says of a bad code in a block.
const (
	badLitlen = "invalid literal/length code"
	badDist   = "invalid distance code"
	farBack   = "distance too far back"
)

// copyMatch copies length bytes from dist bytes back to out[op:]; it may
// write up to 7 bytes past op+length.
func copyMatch(out []byte, op, dist, length int) {
	src := op - dist
	switch {
	case dist >= length && length > 32:
		copy(out[op:op+length], out[src:src+length]) // memmove: wide and fast
	case dist >= 8:
		// Most matches are short: two words cover them.
		binary.LittleEndian.PutUint64(out[op:], binary.LittleEndian.Uint64(out[src:]))
		binary.LittleEndian.PutUint64(out[op+8:], binary.LittleEndian.Uint64(out[src+8:]))
		for k := 16; k < length; k += 8 {
			binary.LittleEndian.PutUint64(out[op+k:], binary.LittleEndian.Uint64(out[src+k:]))
		}
	case dist == 1:
		v := uint64(out[src]) * 0x0101010101010101
		for k := 0; k < length; k += 8 {
			binary.LittleEndian.PutUint64(out[op+k:], v)
		}
	default:
		for k := range length {
			out[op+k] = out[src+k]
		}
	}
}

// slow decodes one symbol (a literal or a whole match) with byte-wise
// refills. It reports whether it was the block's end.
func (f *inflater) slow(lt *[litlenTableSize]uint32, dt *[distTableSize]uint32) (bool, error) {
	f.fill(48)
	e := f.symbol(lt[:], litlenBits)
	if f.overrun() {
		return true, f.truncated()
	}
	switch {
	case e&fLiteral != 0:
		f.out[f.op] = byte(e >> 16)
		f.op++
		return false, nil
	case e&fInvalid != 0:
		return true, f.corrupt(badLitlen)
	case e&fEOB != 0:
		return true, nil
	}
	length := f.value(e)
	d := f.symbol(dt[:], distBits)
	if d&fInvalid != 0 {
		return true, f.corrupt(badDist)
	}
	dist := f.value(d)
	if f.overrun() {
		return true, f.truncated()
	}
	if dist > f.op-f.base {
		return true, f.corrupt(farBack)
	}
	copyMatch(f.out, f.op, dist, length)
	f.op += length
	return false, nil
}

// symbol decodes the entry of the next code of table (whose main table
// has mainBits index bits) and consumes the code; the bits must be there.
// The fast loop has the same steps written out.
func (f *inflater) symbol(table []uint32, mainBits uint) uint32 {
	e := table[f.bb&(1<<mainBits-1)]
	if e&fSubtable != 0 {
		f.bb >>= mainBits
		f.nb -= mainBits
		e = table[e>>16+uint32(f.bb)&(1<<(e>>8&15)-1)]
	}
	f.bb >>= e & 63
	f.nb -= uint(e & 0xff)
	return e
}

// value consumes the extra bits of a length or distance entry and returns
// the length or distance.
func (f *inflater) value(e uint32) int {
	x := e >> 8 & 15
	v := int(e>>16) + int(f.bb&(1<<x-1))
	f.bb >>= x
	f.nb -= uint(x)
	return v
}
