package store

import (
	"archive/tar"
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// entry is one member of a test archive; raw, when set, is written as it
// is instead (for headers archive/tar refuses to write).
type entry struct {
	name, link string
	typ        byte
	mode       int64
	uid        int
	data       string
	raw        []byte
}

func file(name, data string) entry {
	return entry{name: name, typ: tar.TypeReg, mode: 0o644, data: data}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) entry {
	return entry{name: name, typ: tar.TypeSymlink, link: to, mode: 0o777}
}
func hardlink(name, to string) entry {
	return entry{name: name, typ: tar.TypeLink, link: to, mode: 0o644}
}

func makeTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if e.raw != nil {
			tw.Flush()
			buf.Write(e.raw)
			continue
		}
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid,
			Size: int64(len(e.data)), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", e.name, err)
		}
		tw.Write([]byte(e.data))
	}
	tw.Close()
	return buf.Bytes()
}

// rawHeader is a ustar header block archive/tar would not write: archive/tar
// writes a plain one, then the type, size and link are set by hand.
func rawHeader(name string, typ byte, size int64, link string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR})
	tw.Flush()
	b := buf.Bytes()[:512]
	b[156] = typ
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[157:257], link)
	var sum int64
	copy(b[148:156], "        ")
	for _, c := range b {
		sum += int64(c)
	}
	copy(b[148:156], []byte(octal7(sum)))
	return b
}

func octal7(v int64) string {
	s := []byte("0000000\x00")
	for i := 6; i >= 0 && v > 0; i-- {
		s[i] = byte('0' + v%8)
		v /= 8
	}
	return string(s)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := pgzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func zstdBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}
