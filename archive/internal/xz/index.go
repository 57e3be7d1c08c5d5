package xz

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"io"
)

// index is what the blocks read so far say the stream's index must hold:
// their count and a hash of their records, so that its memory does not
// grow with the number of blocks.
type index struct {
	count int64
	hash  hash.Hash32
}

func (x *index) add(unpadded, uncompressed int64) {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], uint64(unpadded))
	binary.LittleEndian.PutUint64(b[8:], uint64(uncompressed))
	x.hash.Write(b[:])
	x.count++
}

// hashingReader is the index as read, for its CRC32.
type hashingReader struct {
	r   *bufio.Reader
	crc hash.Hash32
	n   int64
}

func (h *hashingReader) ReadByte() (byte, error) {
	b, err := h.r.ReadByte()
	if err == nil {
		h.crc.Write([]byte{b})
		h.n++
	}
	return b, err
}

// readIndex reads the index (its indicator byte already read) and the
// stream footer, and checks them against the blocks read.
func (z *Reader) readIndex() error {
	hr := &hashingReader{r: z.r, crc: crc32.NewIEEE(), n: 1}
	hr.crc.Write([]byte{0})
	count, err := uvarint(hr)
	if err != nil {
		return err
	}
	if count != z.index.count {
		return errorf("index lists %d blocks, the stream has %d", count, z.index.count)
	}
	seen := index{hash: crc32.NewIEEE()}
	for i := int64(0); i < count; i++ {
		unpadded, err := uvarint(hr)
		if err != nil {
			return err
		}
		uncompressed, err := uvarint(hr)
		if err != nil {
			return err
		}
		seen.add(unpadded, uncompressed)
	}
	if seen.hash.Sum32() != z.index.hash.Sum32() {
		return errorf("index does not match the blocks")
	}
	for hr.n%4 != 0 {
		if b, err := hr.ReadByte(); err != nil || b != 0 {
			return errorf("bad index padding")
		}
	}
	size := hr.n + 4
	var f [4 + 12]byte
	if _, err := io.ReadFull(z.r, f[:]); err != nil {
		return unexpected(err)
	}
	if binary.LittleEndian.Uint32(f[:4]) != hr.crc.Sum32() {
		return errorf("index checksum mismatch")
	}
	footer := f[4:]
	switch {
	case crc32.ChecksumIEEE(footer[4:10]) != binary.LittleEndian.Uint32(footer[:4]):
		return errorf("stream footer checksum mismatch")
	case (int64(binary.LittleEndian.Uint32(footer[4:8]))+1)*4 != size:
		return errorf("stream footer's index size is wrong")
	case footer[8] != 0 || footer[9] != z.flags:
		return errorf("stream footer flags differ from the header's")
	case !bytes.Equal(footer[10:], footerMagic):
		return errorf("bad stream footer")
	}
	return nil
}
