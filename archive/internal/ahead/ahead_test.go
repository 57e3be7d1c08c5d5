package ahead

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestFillCopiesAndEnds(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 100_003)
	z := New(3, 4096, Fill(iotest.HalfReader(bytes.NewReader(data))))
	defer z.Close()
	got, err := io.ReadAll(z)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%v, %d bytes, want %d", err, len(got), len(data))
	}
	if n, err := z.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after the end: %d, %v", n, err)
	}
}

// TestErrorAfterData: the data before an error is read first, and a
// truncated stream's io.ErrUnexpectedEOF is not taken for the end.
func TestErrorAfterData(t *testing.T) {
	r := io.MultiReader(strings.NewReader("some data"), iotest.ErrReader(io.ErrUnexpectedEOF))
	z := New(2, 4, Fill(r))
	defer z.Close()
	got, err := io.ReadAll(z)
	if string(got) != "some data" || err != io.ErrUnexpectedEOF {
		t.Fatalf("%q, %v", got, err)
	}
}

func TestPanicIsAnError(t *testing.T) {
	z := New(2, 16, func(buf []byte, send Send) error {
		copy(buf, "before")
		if _, err := send(buf, buf[:6]); err != nil {
			return err
		}
		var s []int
		s[len(buf)]++ // a decoder's bug: an index out of range
		return nil
	})
	defer z.Close()
	got, err := io.ReadAll(z)
	if string(got) != "before" || err == nil || !strings.Contains(err.Error(), "decoder failed") {
		t.Fatalf("%q, %v", got, err)
	}
}

// TestCloseStopsABlockedProducer: a producer blocked handing over buffers
// nobody reads returns when the Reader is closed, and Close waits for it.
func TestCloseStopsABlockedProducer(t *testing.T) {
	returned := make(chan error, 1)
	z := New(2, 8, func(buf []byte, send Send) error {
		for {
			var err error
			if buf, err = send(buf, buf); err != nil {
				returned <- err
				return err
			}
		}
	})
	if _, err := io.ReadFull(z, make([]byte, 20)); err != nil {
		t.Fatal(err)
	}
	z.Close()
	select {
	case err := <-returned:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("send returned %v", err)
		}
	default:
		t.Fatal("Close returned before the producer")
	}
	if _, err := z.Read(make([]byte, 1)); err != ErrClosed {
		t.Fatalf("Read after Close: %v", err)
	}
}
