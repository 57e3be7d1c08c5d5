package store

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUntilBigEnough: a buffer too small for an attribute list or value
// (ERANGE) is grown until the whole of it fits, and other errors end the
// read.
func TestUntilBigEnough(t *testing.T) {
	want := make([]byte, 5000)
	for i := range want {
		want[i] = byte(i)
	}
	var sizes []int
	got, err := untilBigEnough(256, 4, func(b []byte) (int, error) {
		sizes = append(sizes, len(b))
		if len(b) < len(want) {
			return -1, unix.ERANGE
		}
		return copy(b, want), nil
	})
	if err != nil || string(got) != string(want) {
		t.Fatalf("got %d bytes, %v; want the %d bytes", len(got), err, len(want))
	}
	if len(sizes) != 4 || sizes[3] != 256*4*4*4 {
		t.Errorf("buffer sizes %v, want 256 grown 4x until 5000 fit", sizes)
	}
	if _, err := untilBigEnough(16, 2, func([]byte) (int, error) { return -1, unix.EIO }); !errors.Is(err, unix.EIO) {
		t.Errorf("EIO: got %v", err)
	}
	names, err := listXattrsWith(func([]byte) (int, error) { return -1, unix.ENOTSUP })
	if err != nil || names != nil {
		t.Errorf("no xattr support: %v, %v; want none and no error", names, err)
	}
}
