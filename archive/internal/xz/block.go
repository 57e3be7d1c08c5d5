package xz

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// blockHeader is what a block header says; sizes are -1 when absent.
type blockHeader struct {
	len                  int
	packed, uncompressed int64
}

// startBlock reads the block header whose first byte is size, refuses a
// dictionary over the limit, and opens the block's LZMA2 data.
func (z *Reader) startBlock(size byte) error {
	h := make([]byte, (int(size)+1)*4)
	h[0] = size
	if _, err := io.ReadFull(z.r, h[1:]); err != nil {
		return unexpected(err)
	}
	end := len(h) - 4
	if crc32.ChecksumIEEE(h[:end]) != binary.LittleEndian.Uint32(h[end:]) {
		return errorf("block header checksum mismatch")
	}
	flags := h[1]
	if flags&0x3c != 0 {
		return errorf("unsupported block flags %#x", flags)
	}
	hdr := blockHeader{len: len(h), packed: -1, uncompressed: -1}
	r := bytes.NewReader(h[2:end])
	var err error
	if flags&0x40 != 0 {
		if hdr.packed, err = uvarint(r); err != nil || hdr.packed == 0 {
			return errorf("bad compressed size in a block header")
		}
	}
	if flags&0x80 != 0 {
		if hdr.uncompressed, err = uvarint(r); err != nil {
			return errorf("bad uncompressed size in a block header")
		}
	}
	// github.com/ulikunitz/xz/lzma decodes LZMA2 only: no BCJ or delta.
	id, err1 := uvarint(r)
	props, err2 := uvarint(r)
	code, err3 := r.ReadByte()
	if flags&3 != 0 || err1 != nil || err2 != nil || err3 != nil || id != 0x21 || props != 1 {
		return errorf("unsupported filters: only LZMA2 alone is")
	}
	for r.Len() > 0 {
		if b, _ := r.ReadByte(); b != 0 {
			return errorf("block header padding is not zero")
		}
	}
	dict, err := lzma.DecodeDictCap(code)
	if err != nil || code&0xc0 != 0 {
		return errorf("invalid LZMA2 dictionary size %#x", code)
	}
	if dict > z.maxDict {
		return &DictError{Size: dict, Limit: z.maxDict}
	}
	z.header = hdr
	z.in.n, z.out = 0, 0
	z.check, _ = newCheck(z.flags)
	lz, err := lzma.Reader2Config{DictCap: int(max(dict, lzma.MinDictCap))}.NewReader2(&z.in)
	if err != nil {
		return errorf("%w", err)
	}
	z.lz = lz
	return nil
}

// endBlock checks a block's sizes, padding and check, and records it for
// the index.
func (z *Reader) endBlock() error {
	h := z.header
	if h.packed >= 0 && h.packed != z.in.n || h.uncompressed >= 0 && h.uncompressed != z.out {
		return errorf("block sizes differ from its header")
	}
	var buf [4 + 64]byte
	pad := int(-z.in.n & 3)
	sum := checkSum(z.check)
	b := buf[:pad+len(sum)]
	if _, err := io.ReadFull(z.r, b); err != nil {
		return unexpected(err)
	}
	if !bytes.Equal(b[:pad], make([]byte, pad)) {
		return errorf("block padding is not zero")
	}
	if !bytes.Equal(b[pad:], sum) {
		return errorf("block check mismatch")
	}
	z.index.add(int64(h.len)+z.in.n+int64(len(sum)), z.out)
	return nil
}

// uvarint reads an xz multibyte integer: at most 9 bytes, no trailing
// zero byte.
func uvarint(r io.ByteReader) (int64, error) {
	var x uint64
	for i := 0; i < 9; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		x |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if i > 0 && b == 0 {
				break
			}
			return int64(x), nil
		}
	}
	return 0, errorf("invalid multibyte integer")
}
