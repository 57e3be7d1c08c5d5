package hotkey

// IsKeyboard decides from a device's capability bitmaps whether it is a
// keyboard: it reports EV_SYN and EV_KEY (evBits, as EVIOCGBIT(0) returns
// it) and has every letter key A to Z (keyBits, as EVIOCGBIT(EV_KEY)
// returns it). Mice, power buttons, lid switches and the media-key halves
// of USB keyboards report EV_KEY too, but not the letters.
func IsKeyboard(evBits, keyBits []byte) bool {
	if !bit(evBits, evSyn) || !bit(evBits, evKey) {
		return false
	}
	for _, k := range letterKeys {
		if !bit(keyBits, k) {
			return false
		}
	}
	return true
}

// bit reports whether bit n is set in a kernel bitmap: an array of longs
// in the machine's byte order, bit n being bit n%64 of long n/64 on a
// 64-bit machine.
func bit(bitmap []byte, n uint16) bool {
	bits := uint(wordSize * 8)
	i := int(uint(n)/bits) * wordSize
	if i+wordSize > len(bitmap) {
		return false
	}
	return uint64(word(bitmap[i:]))&(1<<(uint(n)%bits)) != 0
}
