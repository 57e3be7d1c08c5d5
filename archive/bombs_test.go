package archive

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"initns/internal/archivetest"
)

// TestDecompressionBombs: an image whose decoder would ask for gigabytes
// (an xz dictionary, a zstd window) in any block of any stream or frame is
// refused at once with an error naming the limit, and the process's heap
// stays small.
func TestDecompressionBombs(t *testing.T) {
	small := makeTar(t, file("etc/hostname", "bomb"))
	bomb := xzOf(t, small)
	setXzDict(t, bomb, 12, 40)
	second := xzOf(t, append(small, make([]byte, 64<<10)...), "--block-size=32KiB")
	if offs := xzBlockHeaders(t, second); len(offs) < 2 {
		t.Fatalf("xz --block-size made %d blocks", len(offs))
	} else {
		setXzDict(t, second, offs[1], 40)
	}
	xzLimit := archivetest.XzBombLimit
	zstdLimit := "zstd window exceeds the 128 MiB limit"
	cases := []struct {
		name, image string
		data        []byte
		want        string
	}{
		// The 208 bytes of issue 12: an empty stream, then the bomb.
		{"xz-second-stream", "a.tar.xz", archivetest.XzBomb(t), xzLimit},
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
