package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// xzOf compresses b with the xz tool, a 1 MiB dictionary and the extra
// flags given.
func xzOf(t *testing.T, b []byte, extra ...string) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "xz", append([]string{"--lzma2=dict=1MiB"}, append(extra, p)...)...)
	data, err := os.ReadFile(p + ".xz")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// xzBlockHeaders returns the offsets of the block headers of the single
// xz stream s, found from its index (backwards from the footer).
func xzBlockHeaders(t *testing.T, s []byte) []int {
	t.Helper()
	back := int(binary.LittleEndian.Uint32(s[len(s)-8:])+1) * 4
	idx := s[len(s)-12-back:]
	if idx[0] != 0 {
		t.Fatalf("no xz index indicator at %d", len(s)-12-back)
	}
	r := bytes.NewReader(idx[1:])
	n, _ := binary.ReadUvarint(r)
	offs, off := []int{}, 12
	for i := uint64(0); i < n; i++ {
		unpadded, _ := binary.ReadUvarint(r)
		binary.ReadUvarint(r)
		offs = append(offs, off)
		off += int(unpadded+3) &^ 3
	}
	return offs
}

// setXzDict rewrites the LZMA2 dictionary of the block header at off to
// the code given (40: 4 GiB - 1) and fixes the header's CRC32, so that
// only the dictionary limit stands between the decoder and the
// allocation.
func setXzDict(t *testing.T, s []byte, off int, code byte) {
	t.Helper()
	h := s[off : off+(int(s[off])+1)*4]
	p := 2
	if h[1]&0x40 != 0 {
		for h[p]&0x80 != 0 {
			p++
		}
		p++
	}
	if h[1]&0x80 != 0 {
		for h[p]&0x80 != 0 {
			p++
		}
		p++
	}
	if h[p] != 0x21 || h[p+1] != 1 {
		t.Fatalf("unexpected xz block header % x", h)
	}
	h[p+2] = code
	binary.LittleEndian.PutUint32(h[len(h)-4:], crc32.ChecksumIEEE(h[:len(h)-4]))
}

// TestDecompressionBombs: an image whose decoder would ask for gigabytes
// (an xz dictionary, a zstd window) in any block of any stream or frame is
// refused at once with an error naming the limit, and the process's heap
// stays small.
func TestDecompressionBombs(t *testing.T) {
	small := makeTar(t, file("etc/hostname", "bomb"))
	empty := xzOf(t, nil)
	bomb := xzOf(t, small)
	setXzDict(t, bomb, 12, 40)
	second := xzOf(t, append(small, make([]byte, 64<<10)...), "--block-size=32KiB")
	if offs := xzBlockHeaders(t, second); len(offs) < 2 {
		t.Fatalf("xz --block-size made %d blocks", len(offs))
	} else {
		setXzDict(t, second, offs[1], 40)
	}
	xzLimit := "xz dictionary of 4096 MiB exceeds the 128 MiB limit"
	zstdLimit := "zstd window exceeds the 128 MiB limit"
	cases := []struct {
		name, image string
		data        []byte
		want        string
	}{
		// The 208 bytes of issue 12: an empty stream, then the bomb.
		{"xz-second-stream", "a.tar.xz", cat(empty, bomb), xzLimit},
		{"xz-after-padding", "b.tar.xz", cat(xzOf(t, small), make([]byte, 8), bomb), xzLimit},
		{"xz-second-block", "c.tar.xz", second, xzLimit},
		{"xz-first-block", "d.tar.xz", bomb, xzLimit},
		{"zstd-second-frame", "e.tar.zst", cat(zstdBytes(nil), zstdFrameHeader(false)), zstdLimit},
		{"zstd-single-segment", "f.tar.zst", cat(zstdBytes(nil), zstdFrameHeader(true)), zstdLimit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sb := newSandbox(t)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			err := sb.newFrom(c.image, c.data)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes refused in %v; heap in use %d MiB -> %d MiB, %d MiB allocated meanwhile",
				len(c.data), took, before.HeapInuse>>20, after.HeapInuse>>20, alloc>>20)
			if !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("new: %v; want ErrBadImage naming %q", err, c.want)
			}
			if alloc > 64<<20 {
				t.Errorf("%d MiB allocated while refusing a %d-byte image", alloc>>20, len(c.data))
			}
			if took > 2*time.Second {
				t.Errorf("refused after %v", took)
			}
			sb.untouched()
		})
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// zstdFrameHeader is the start of a zstd frame that asks for a 4 GiB
// window: from its window descriptor, or (singleSegment) from its content
// size, which then is the window.
func zstdFrameHeader(singleSegment bool) []byte {
	h := []byte{0x28, 0xb5, 0x2f, 0xfd}
	if singleSegment {
		// Frame_Content_Size_flag 2 (4 bytes), Single_Segment_flag.
		h = append(h, 0x80|0x20, 0, 0, 0, 0xff)
	} else {
		// Window_Log 32: exponent 22 (10 + 22).
		h = append(h, 0x00, 22<<3)
	}
	// A raw block of 1 byte, last block.
	return append(h, 0x09, 0x00, 0x00, 'x')
}
