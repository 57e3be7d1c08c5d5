package gz

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"testing/iotest"
	"time"

	kflate "github.com/klauspost/compress/flate"
	"github.com/klauspost/pgzip"
)

// samples are inputs of the shapes an image holds: text, binaries, runs,
// incompressible data, and sizes around the buffer boundaries.
func samples() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	text := func(n int) []byte {
		words := []string{"the ", "root ", "filesystem ", "init ", "namespace ", "\n", "cgroup ", "x", "0123456789"}
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[r.IntN(len(words))])
		}
		return b.Bytes()[:n]
	}
	// mixed alternates short random runs with copies of earlier data at
	// every distance, including the longest.
	mixed := func(n int) []byte {
		b := random(64)
		for len(b) < n {
			if r.IntN(3) == 0 {
				b = append(b, random(1+r.IntN(40))...)
				continue
			}
			d := 1 + r.IntN(min(len(b), maxDist))
			l := 3 + r.IntN(300)
			for range l {
				b = append(b, b[len(b)-d])
			}
		}
		return b[:n]
	}
	return map[string][]byte{
		"empty":     nil,
		"one":       {'a'},
		"zeros":     make([]byte, 3<<20),
		"random":    random(bufSize + 12345),
		"text":      text(5 << 20),
		"mixed":     mixed(3 << 20),
		"boundary":  text(bufSize - maxDist),
		"short-run": bytes.Repeat([]byte("abcdefg"), 100000),
	}
}

func gzipWith(t testing.TB, data []byte, level int) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

func gunzip(t testing.TB, r io.Reader) ([]byte, error) {
	t.Helper()
	z, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	return io.ReadAll(z)
}

func TestMatchesCompressGzip(t *testing.T) {
	for name, data := range samples() {
		for _, level := range []int{gzip.NoCompression, gzip.HuffmanOnly, gzip.BestSpeed, gzip.DefaultCompression, gzip.BestCompression} {
			t.Run(fmt.Sprintf("%s/%d", name, level), func(t *testing.T) {
				z := gzipWith(t, data, level)
				got, err := gunzip(t, bytes.NewReader(z))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("decoded %d bytes, want %d (first difference at %d)", len(got), len(data), firstDiff(got, data))
				}
			})
		}
	}
}

// TestMatchesGNUGzip decodes what gzip(1) makes of a binary (this test's
// executable) at its fastest and best levels: zlib's block and code choices,
// and binary data's statistics, unlike the text and runs above.
func TestMatchesGNUGzip(t *testing.T) {
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, level := range []string{"-1", "-9"} {
		z, err := exec.Command("gzip", "-c", level, os.Args[0]).Output()
		if err != nil {
			t.Fatalf("gzip %s: %v", level, err)
		}
		got, err := gunzip(t, bytes.NewReader(z))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("gzip %s: %v, %d bytes, want %d (first difference at %d)", level, err, len(got), len(data), firstDiff(got, data))
		}
	}
}

// TestByteAtATime feeds input one byte per Read, so that every symbol is
// decoded by the slow path with refills between its bits.
func TestByteAtATime(t *testing.T) {
	data := samples()["mixed"][:300000]
	for _, level := range []int{gzip.NoCompression, gzip.BestSpeed, gzip.BestCompression} {
		got, err := gunzip(t, iotest.OneByteReader(bytes.NewReader(gzipWith(t, data, level))))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("level %d: %v, %d bytes, want %d", level, err, len(got), len(data))
		}
	}
}

// TestPgzipAndMembers reads what the store writes (pgzip: sync-flushed
// blocks) and several members one after another, as gzip(1) does.
func TestPgzipAndMembers(t *testing.T) {
	data := samples()["text"]
	var buf bytes.Buffer
	zw := pgzip.NewWriter(&buf)
	zw.SetConcurrency(256<<10, 4)
	zw.Write(data)
	zw.Close()
	one := buf.Bytes()
	buf.Write(gzipWith(t, []byte("second member\n"), 6))
	buf.Write(gzipWith(t, nil, 6))
	buf.Write(one)
	want := append(append(append([]byte{}, data...), "second member\n"...), data...)
	got, err := gunzip(t, &buf)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%v, %d bytes, want %d", err, len(got), len(want))
	}
}

func TestHeaderFields(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Name, zw.Comment, zw.Extra = "rootfs.tar", "made by a test", []byte("xx\x02\x00ab")
	zw.Write([]byte("payload"))
	zw.Close()
	b := buf.Bytes()
	got, err := gunzip(t, bytes.NewReader(b))
	if err != nil || string(got) != "payload" {
		t.Fatalf("%q, %v", got, err)
	}
	// FHCRC: the low 16 bits of the header's CRC-32 follow it.
	hdrLen := bytes.IndexByte(b[10+2+6+len("rootfs.tar")+1:], 0) + 10 + 2 + 6 + len("rootfs.tar") + 1 + 1
	h := append([]byte{}, b[:hdrLen]...)
	h[3] |= 0x02
	crc := crc32IEEE(h)
	withCRC := append(append(h, byte(crc), byte(crc>>8)), b[hdrLen:]...)
	if got, err := gunzip(t, bytes.NewReader(withCRC)); err != nil || string(got) != "payload" {
		t.Fatalf("with FHCRC: %q, %v", got, err)
	}
	withCRC[hdrLen] ^= 1
	if _, err := gunzip(t, bytes.NewReader(withCRC)); err == nil {
		t.Fatal("a wrong header CRC was accepted")
	}
}

func TestErrors(t *testing.T) {
	good := gzipWith(t, samples()["mixed"][:200000], 6)
	cases := map[string]struct {
		in   []byte
		want error
	}{
		"not gzip":        {[]byte("hello, this is not gzip at all"), ErrHeader},
		"empty":           {nil, ErrHeader},
		"header only":     {good[:10], io.ErrUnexpectedEOF},
		"half":            {good[:len(good)/2], io.ErrUnexpectedEOF},
		"no trailer":      {good[:len(good)-8], io.ErrUnexpectedEOF},
		"short trailer":   {good[:len(good)-1], io.ErrUnexpectedEOF},
		"bad crc":         {flip(good, len(good)-8), ErrChecksum},
		"bad size":        {flip(good, len(good)-1), ErrChecksum},
		"trailing junk":   {append(append([]byte{}, good...), "junk"...), ErrHeader},
		"method":          {flip(good, 2), nil},
		"reserved flags":  {flipBit(good, 3, 0x80), nil},
		"reserved block":  {append(append([]byte{}, good[:10]...), 0x07, 0, 0), &CorruptError{}},
		"stored mismatch": {append(append([]byte{}, good[:10]...), 0x01, 5, 0, 5, 0, 'a'), &CorruptError{}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := gunzip(t, bytes.NewReader(c.in))
			if err == nil {
				t.Fatal("no error")
			}
			var ce *CorruptError
			switch {
			case c.want == nil:
			case errors.As(c.want, &ce):
				if !errors.As(err, &ce) {
					t.Fatalf("got %v, want a CorruptError", err)
				}
			case !errors.Is(err, c.want):
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// TestZeroPadding: zero bytes after the last member (tools that pad to a
// block size) are accepted, as GNU gzip does ("decompression OK, trailing
// zero bytes ignored"); anything else after the zeros is still junk.
func TestZeroPadding(t *testing.T) {
	data := samples()["mixed"][:100000]
	good := gzipWith(t, data, 6)
	two := append(append([]byte{}, good...), good...)
	for _, c := range []struct {
		in   []byte
		want []byte
	}{
		{append(append([]byte{}, good...), 0), data},
		{append(append([]byte{}, good...), make([]byte, 7)...), data},
		{append(append([]byte{}, good...), make([]byte, 10240-len(good)%10240)...), data},
		{append(append([]byte{}, two...), make([]byte, 1<<20)...), append(append([]byte{}, data...), data...)},
	} {
		cmd := exec.Command("gzip", "-t")
		cmd.Stdin = bytes.NewReader(c.in)
		out, gnuErr := cmd.CombinedOutput()
		got, err := gunzip(t, iotest.HalfReader(bytes.NewReader(c.in)))
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("%d zero bytes after the end: %v, %d bytes (gzip -t: %v %s)",
				len(c.in)-len(good), err, len(got), gnuErr, out)
		}
	}
	for _, junk := range [][]byte{{0, 0, 0, 1}, {0, 0x1f, 0x8b}, append(make([]byte, 600), good...)} {
		in := append(append([]byte{}, good...), junk...)
		if _, err := gunzip(t, bytes.NewReader(in)); !errors.Is(err, ErrHeader) {
			t.Errorf("zeros then % x...: %v, want %v", junk[:3], err, ErrHeader)
		}
	}
}

// TestEveryTruncation cuts a stream at every length: each must fail, none
// may decode as complete.
func TestEveryTruncation(t *testing.T) {
	good := gzipWith(t, samples()["text"][:20000], 9)
	for n := range len(good) {
		if _, err := gunzip(t, bytes.NewReader(good[:n])); err == nil {
			t.Fatalf("cut at %d of %d: no error", n, len(good))
		}
	}
}

// TestCloseEarly stops reading half way: Close must release the decoder,
// which is blocked handing over buffers nobody reads.
func TestCloseEarly(t *testing.T) {
	z, err := NewReader(bytes.NewReader(gzipWith(t, samples()["zeros"], 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(z, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	z.Close()
	if _, err := z.Read(make([]byte, 10)); err != ErrClosed {
		t.Fatalf("Read after Close: %v", err)
	}
}

// inflateRaw decodes a raw DEFLATE stream with the inflater alone.
func inflateRaw(data []byte) ([]byte, error) {
	var out []byte
	f := &inflater{r: bytes.NewReader(data), in: make([]byte, 0, 64), bufSize: 1 << 16}
	f.out = make([]byte, f.bufSize+outSlack)
	f.next = func(full, d []byte) ([]byte, error) {
		out = append(out, d...)
		return full, nil
	}
	err := f.member()
	return append(out, f.out[f.start:f.op]...), err
}

// benchImage is the Debian minbase image the store's benchmarks build
// (store/bench_test.go); make bench runs those first.
const benchImage = "/var/cache/initns-bench/minbase.tar.gz"

// BenchmarkDecode inflates a real root filesystem image (benchImage, else 8
// MiB of image-like data made here) with gz and with the inflater of
// klauspost/compress that pgzip uses, alternating, and prints the ratio.
func BenchmarkDecode(b *testing.B) {
	what, z := benchImage, []byte(nil)
	if img, err := os.ReadFile(benchImage); err == nil {
		z = img
	} else {
		what = "8 MiB of text and matches (no " + benchImage + ")"
		z = gzipWith(b, append(samples()["mixed"], samples()["text"]...), 6)
	}
	size := int(binary.LittleEndian.Uint32(z[len(z)-4:])) // ISIZE: images here are under 4 GiB
	decodeTime(b, z, size, true)                          // warm up: page in the image, settle the clock
	var mine, theirs time.Duration
	for b.Loop() {
		for range 3 { // make bench runs one iteration
			mine += decodeTime(b, z, size, true)
			theirs += decodeTime(b, z, size, false)
		}
	}
	ratio := mine.Seconds() / theirs.Seconds()
	mbps := func(d time.Duration) float64 { return 3 * float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(ratio, "x-vs-klauspost")
	fmt.Printf("%s: %s: gz %.0f MB/s, klauspost/compress/flate %.0f MB/s (gz/klauspost time = %.2f)\n",
		b.Name(), what, mbps(mine), mbps(theirs), ratio)
}

// decodeTime inflates z with gz or with klauspost/compress/flate.
func decodeTime(b *testing.B, z []byte, size int, gz bool) time.Duration {
	start := time.Now()
	var r io.Reader = kflate.NewReader(bytes.NewReader(z[10:])) // the DEFLATE data after the header
	if gz {
		zr, err := NewReader(bytes.NewReader(z))
		if err != nil {
			b.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	if n, err := io.Copy(io.Discard, r); err != nil || n != int64(size) {
		b.Fatal(n, err)
	}
	return time.Since(start)
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func flip(b []byte, i int) []byte { return flipBit(b, i, 0xff) }

func flipBit(b []byte, i int, bit byte) []byte {
	c := append([]byte{}, b...)
	c[i] ^= bit
	return c
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }
