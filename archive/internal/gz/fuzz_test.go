package gz

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"io"
	"testing"
)

// maxFuzzOut is as much output as FuzzInflate compares: a 1 MiB input can
// decode to a gigabyte.
const maxFuzzOut = 16 << 20

// FuzzInflate holds gz to the standard library. A raw DEFLATE stream (up
// to 4 KiB) goes to the inflater alone and to compress/flate; an input
// that starts as gzip does (1f 8b), up to 1 MiB, goes whole through
// NewReader, as an image does, and member by member to compress/gzip:
// members one after another, the header's FEXTRA, FNAME, FCOMMENT and
// FHCRC, the trailer's CRC-32 and size, zero padding. Both must give the
// same output (its first maxFuzzOut bytes), and an error for the same
// inputs, except where gz follows RFC 1952 and GNU gzip rather than
// compress/gzip (stdGunzip says where). The corpus in
// testdata/fuzz/FuzzInflate holds those framings, the largest 1 MiB.
func FuzzInflate(f *testing.F) {
	for _, data := range [][]byte{nil, []byte("hello hello hello"), samples()["mixed"][:1500]} {
		for _, level := range []int{0, 1, 9, -2} {
			var buf bytes.Buffer
			w, _ := flate.NewWriter(&buf, level)
			w.Write(data)
			w.Close()
			f.Add(buf.Bytes())
		}
	}
	f.Add([]byte{0x05, 0xe0, 0x81, 0x91, 0x24, 0xcb, 0xb2, 0x2c, 0x49, 0xe2, 0x0f, 0x2e, 0x8b, 0x9a, 0x47, 0x56, 0x9f, 0xfb, 0xfe, 0xec, 0xd2, 0xff, 0x1f})
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			fuzzGzip(t, data)
			return
		}
		if len(data) > 4096 {
			return // a few KiB of matches already decode to megabytes
		}
		want, werr := io.ReadAll(flate.NewReader(bytes.NewReader(data)))
		got, err := inflateRaw(data)
		if (err == nil) != (werr == nil) {
			t.Fatalf("error %v, compress/flate: %v", err, werr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("decoded %d bytes, compress/flate %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
		}
	})
}

// fuzzGzip compares NewReader with stdGunzip on a gzip stream.
func fuzzGzip(t *testing.T, data []byte) {
	if len(data) > 1<<20 {
		return
	}
	want, wfull, werr := stdGunzip(data)
	if errors.Is(werr, errInconclusive) {
		return
	}
	var got []byte
	z, err := NewReader(bytes.NewReader(data))
	if err == nil {
		got, err = io.ReadAll(io.LimitReader(z, maxFuzzOut+1))
		z.Close()
	}
	full := len(got) > maxFuzzOut
	got = got[:min(len(got), maxFuzzOut)]
	if full || wfull {
		// Cut short: only what both decoded is compared.
		n := min(len(got), len(want))
		if (full && !wfull && werr == nil) || (wfull && !full && err == nil) || !bytes.Equal(got[:n], want[:n]) {
			t.Fatalf("past %d bytes: decoded %d (%v), compress/gzip %d (%v), first difference at %d",
				maxFuzzOut, len(got), err, len(want), werr, firstDiff(got, want))
		}
		return
	}
	if (err == nil) != (werr == nil) {
		t.Fatalf("error %v, compress/gzip: %v", err, werr)
	}
	if err == nil && !bytes.Equal(got, want) {
		t.Fatalf("decoded %d bytes, compress/gzip %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
}

// errInconclusive: compress/gzip cannot be the reference for this input.
var errInconclusive = errors.New("compress/gzip refuses what RFC 1952 allows")

// stdGunzip decodes a gzip stream with compress/gzip, one member at a
// time, with gz's rules where they differ from its own:
//   - zero bytes from the end of a member to the end of the input are
//     padding, as GNU gzip takes them; zeros and then anything else is an
//     error (compress/gzip: an error either way);
//   - a header with reserved flags set is an error, as RFC 1952 2.3.1.2
//     says (compress/gzip ignores them);
//   - a file name or comment of 512 bytes or more is allowed
//     (compress/gzip refuses it): errInconclusive.
//
// It returns at most maxFuzzOut bytes, full when there were more.
func stdGunzip(data []byte) (out []byte, full bool, err error) {
	br := bytes.NewReader(data)
	var buf bytes.Buffer
	var z *gzip.Reader
	for {
		rest := data[len(data)-br.Len():]
		if z != nil && len(bytes.TrimLeft(rest, "\x00")) == 0 {
			return buf.Bytes(), false, nil
		}
		if z != nil && rest[0] == 0 {
			return buf.Bytes(), false, ErrHeader
		}
		if err := headerRules(rest); err != nil {
			return buf.Bytes(), false, err
		}
		if z == nil {
			z, err = gzip.NewReader(br)
		} else {
			err = z.Reset(br)
		}
		if err != nil {
			return buf.Bytes(), false, err
		}
		z.Multistream(false)
		// bytes.Reader is an io.ByteReader: compress/gzip reads no
		// further than the member's trailer.
		if _, err := io.Copy(&buf, io.LimitReader(z, int64(maxFuzzOut+1-buf.Len()))); err != nil {
			return buf.Bytes(), false, err
		}
		if buf.Len() > maxFuzzOut {
			return buf.Bytes()[:maxFuzzOut], true, nil
		}
	}
}

// headerRules applies stdGunzip's header rules to a member header at the
// start of h.
func headerRules(h []byte) error {
	if len(h) < 10 {
		return nil // compress/gzip finds it truncated
	}
	flags := h[3]
	if flags&0xe0 != 0 {
		return ErrHeader
	}
	p := 10
	if flags&0x04 != 0 { // FEXTRA
		if len(h) < p+2 {
			return nil
		}
		p += 2 + (int(h[p]) | int(h[p+1])<<8)
	}
	for _, flag := range []byte{0x08, 0x10} { // FNAME, FCOMMENT
		if flags&flag == 0 || p >= len(h) {
			continue
		}
		n := bytes.IndexByte(h[p:], 0)
		if n < 0 {
			return nil
		}
		if n >= 512 {
			return errInconclusive
		}
		p += n + 1
	}
	return nil
}
