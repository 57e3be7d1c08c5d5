package gz

import (
	"errors"
	"sync"
)

// A decoding table maps the next bits of input to an entry (uint32):
//
//	bits  0-7   bits to consume for this entry at its level of the table
//	bits  8-11  extra bits that follow the code (lengths, distances), or
//	            the index bits of the subtable a main entry points to
//	bits 12-15  flags: fLiteral, fSubtable, fEOB, fInvalid
//	bits 16-31  the literal byte, length base, distance base, or subtable start
//
// Codes no longer than the main table's index bits are found in one lookup
// (their entry is repeated for every value of the bits beyond the code);
// longer ones in a second lookup in a subtable sized for the codes that share
// the prefix. Lengths and distances carry their base and extra-bit count, so
// a whole match decodes with two lookups.
const (
	fLiteral  = 1 << 12
	fSubtable = 1 << 13
	fEOB      = 1 << 14
	fInvalid  = 1 << 15

	litlenBits  = 11 // main table index bits
	distBits    = 8
	precodeBits = 7 // the longest precode is 7 bits: no subtables

	// Table sizes: the main table plus room for subtables. A complete code
	// of 288 symbols up to 15 bits needs at most 2342 entries with an
	// 11-bit main table, one of 32 symbols at most 402 with an 8-bit one
	// (zlib's enough.c); build checks the bound anyway.
	litlenTableSize = 4096
	distTableSize   = 1024

	maxCodeLen = 15
	maxDist    = 32768
	maxMatch   = 258
)

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

	// precodeOrder is the order of the code length code lengths (RFC 1951 3.2.7).
	precodeOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

	// The entries of each alphabet's symbols, without the bit counts.
	litlenEntries  [288]uint32
	distEntries    [32]uint32
	precodeEntries [19]uint32

	// The fixed code of block type 1 (RFC 1951 3.2.6).
	fixedLitlen [litlenTableSize]uint32
	fixedDist   [distTableSize]uint32
)

var errBadCode = errors.New("invalid Huffman code")

// tables builds the tables above on first use rather than at package
// initialisation: the one binary is also the client, which decodes no
// gzip and should not pay for it at every start.
var tables = sync.OnceFunc(func() {
	for s := range litlenEntries {
		switch {
		case s < 256:
			litlenEntries[s] = fLiteral | uint32(s)<<16
		case s == 256:
			litlenEntries[s] = fEOB
		case s < 286:
			litlenEntries[s] = uint32(lengthBase[s-257])<<16 | uint32(lengthExtra[s-257])<<8
		default:
			litlenEntries[s] = fInvalid
		}
	}
	for s := range distEntries {
		if s < 30 {
			distEntries[s] = uint32(distBase[s])<<16 | uint32(distExtra[s])<<8
		} else {
			distEntries[s] = fInvalid
		}
	}
	for s := range precodeEntries {
		precodeEntries[s] = uint32(s) << 16
	}
	var lens [288]uint8
	for s := range lens {
		switch {
		case s < 144:
			lens[s] = 8
		case s < 256:
			lens[s] = 9
		case s < 280:
			lens[s] = 7
		default:
			lens[s] = 8
		}
	}
	if build(fixedLitlen[:], lens[:], litlenBits, litlenEntries[:]) != nil {
		panic("gz: fixed literal/length code")
	}
	for s := range lens[:32] {
		lens[s] = 5
	}
	if build(fixedDist[:], lens[:32], distBits, distEntries[:]) != nil {
		panic("gz: fixed distance code")
	}
})

// build fills table with the decoding table of the canonical Huffman code
// whose code lengths are lens (0: symbol unused), where symbol s decodes to
// entries[s]. It refuses an over-subscribed code, and an incomplete one
// unless it is empty or a single one-bit code (what zlib and Go's
// compress/flate accept); the bit patterns such codes leave unused decode
// to fInvalid.
func build(table []uint32, lens []uint8, mainBits uint, entries []uint32) error {
	var count [maxCodeLen + 1]int
	maxLen := 0
	for _, l := range lens {
		count[l]++
		maxLen = max(maxLen, int(l))
	}
	used := len(lens) - count[0]
	count[0] = 0
	left := 1
	for l := 1; l <= maxCodeLen; l++ {
		left = left<<1 - count[l]
		if left < 0 {
			return errBadCode // over-subscribed
		}
	}
	mainSize := 1 << mainBits
	if left > 0 {
		if used > 1 || (used == 1 && count[1] != 1) {
			return errBadCode // incomplete
		}
		for i := range table[:mainSize] {
			table[i] = fInvalid | uint32(mainBits)
		}
	}

	// Symbols sorted by code length, then by value: canonical order.
	var offs [maxCodeLen + 2]int
	for l := 1; l <= maxCodeLen; l++ {
		offs[l+1] = offs[l] + count[l]
	}
	var sorted [288]uint16
	for s, l := range lens {
		if l != 0 {
			sorted[offs[l]] = uint16(s)
			offs[l]++
		}
	}

	remaining := count // codes of each length not yet placed
	code := 0          // the current code, most significant bit first
	next := mainSize   // where the next subtable goes
	prefix, subStart, subBits := -1, 0, 0
	i := 0
	for l := 1; l <= maxLen; l++ {
		for range count[l] {
			s := sorted[i]
			i++
			rev := reverse(code, l) // deflate sends codes from their first bit
			if l <= int(mainBits) {
				e := entries[s] | uint32(l)
				for j := rev; j < mainSize; j += 1 << l {
					table[j] = e
				}
			} else {
				if p := rev & (mainSize - 1); p != prefix {
					// A new subtable: as wide as the codes with this
					// prefix need (zlib's inflate_table).
					subBits = l - int(mainBits)
					room := 1 << subBits
					for subBits+int(mainBits) < maxLen {
						room -= remaining[subBits+int(mainBits)]
						if room <= 0 {
							break
						}
						subBits++
						room <<= 1
					}
					subStart = next
					next += 1 << subBits
					if next > len(table) {
						return errBadCode
					}
					prefix = p
					table[p] = fSubtable | uint32(subStart)<<16 | uint32(subBits)<<8 | uint32(mainBits)
				}
				e := entries[s] | uint32(l-int(mainBits))
				for j := rev >> mainBits; j < 1<<subBits; j += 1 << (l - int(mainBits)) {
					table[subStart+j] = e
				}
			}
			remaining[l]--
			code++
		}
		code <<= 1
	}
	return nil
}

// reverse returns the n low bits of code in reverse order.
func reverse(code, n int) int {
	r := 0
	for range n {
		r = r<<1 | code&1
		code >>= 1
	}
	return r
}
