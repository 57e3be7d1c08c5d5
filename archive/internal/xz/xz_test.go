package xz

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// xzTool compresses data with the xz tool and the flags given.
func xzTool(t *testing.T, data []byte, flags ...string) []byte {
	t.Helper()
	cmd := exec.Command("xz", append([]string{"-c"}, flags...)...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz %v: %v", flags, err)
	}
	return out
}

func decode(b []byte, maxDict int64) ([]byte, error) {
	z, err := NewReader(bytes.NewReader(b), maxDict)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(z)
}

// sample is 1 MiB that compresses, but not to nothing.
func sample() []byte {
	rng := rand.New(rand.NewSource(1))
	words := [][]byte{[]byte("init "), []byte("namespace "), []byte("cgroup\n"), []byte("pid "), {0, 0, 0}}
	var b bytes.Buffer
	for b.Len() < 1<<20 {
		b.Write(words[rng.Intn(len(words))])
		if rng.Intn(8) == 0 {
			b.WriteByte(byte(rng.Intn(256)))
		}
	}
	return b.Bytes()
}

// TestMatchesXzTool: what the xz tool writes decodes to what it was given,
// whatever the check, block size, thread count, stream count and padding.
func TestMatchesXzTool(t *testing.T) {
	data := sample()
	cases := map[string][]byte{
		"empty":    xzTool(t, nil),
		"default":  xzTool(t, data),
		"none":     xzTool(t, data, "--check=none"),
		"crc32":    xzTool(t, data, "--check=crc32", "-1"),
		"sha256":   xzTool(t, data, "--check=sha256"),
		"blocks":   xzTool(t, data, "--block-size=100KiB"),
		"threads":  xzTool(t, data, "-T2", "--block-size=1MiB"),
		"extreme":  xzTool(t, data[:100000], "-9e"),
		"streams":  append(xzTool(t, data[:1000]), xzTool(t, data[1000:])...),
		"padding":  append(append(xzTool(t, data[:1000]), make([]byte, 12)...), xzTool(t, data[1000:])...),
		"leadsnil": append(xzTool(t, nil), xzTool(t, data)...),
	}
	for name, c := range cases {
		want := data
		switch name {
		case "empty":
			want = nil
		case "extreme":
			want = data[:100000]
		}
		got, err := decode(c, 64<<20)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(want))
		}
	}
}

// TestDictLimit: every block's dictionary is checked, in every stream; the
// limit itself is allowed.
func TestDictLimit(t *testing.T) {
	data := sample()[:300000]
	one := xzTool(t, data, "--lzma2=dict=1MiB")
	if _, err := decode(one, 1<<20); err != nil {
		t.Fatalf("a dictionary at the limit: %v", err)
	}
	var de *DictError
	_, err := decode(append(xzTool(t, nil), one...), 512<<10)
	if !errors.As(err, &de) || de.Size != 1<<20 || de.Limit != 512<<10 {
		t.Fatalf("second stream over the limit: %v", err)
	}
}

// TestCorruption: a flipped byte anywhere, a truncation anywhere, or junk
// after the end is an error, never a panic or a silent success.
func TestCorruption(t *testing.T) {
	data := sample()[:20000]
	first := xzTool(t, data[:5000], "--block-size=2000", "--lzma2=dict=64KiB")
	good := append(first, xzTool(t, data[5000:], "--check=sha256", "--lzma2=dict=64KiB")...)
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x55
		if got, err := decode(b, 64<<20); err == nil && !bytes.Equal(got, data) {
			t.Fatalf("byte %d flipped: wrong data without an error", i)
		}
		if _, err := decode(good[:i], 64<<20); err == nil && i != len(first) {
			t.Fatalf("truncated to %d of %d bytes: no error", i, len(good))
		}
	}
	for _, junk := range [][]byte{{1, 2, 3, 4}, {0, 0, 0}, {0, 0, 0, 0, 1}} {
		if _, err := decode(append(bytes.Clone(good), junk...), 64<<20); err == nil {
			t.Errorf("junk % x after the end: no error", junk)
		}
	}
}

// TestFromFile: a reader that is not a bufio.Reader is buffered.
func TestFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.xz")
	os.WriteFile(p, xzTool(t, []byte("hello")), 0o600)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := NewReader(f, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(z); err != nil || string(got) != "hello" {
		t.Fatalf("%q, %v", got, err)
	}
}
