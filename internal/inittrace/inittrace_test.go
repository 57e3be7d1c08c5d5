package inittrace

import (
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	trace := `init internal/bytealg @0.008 ms, 0 ms clock, 0 bytes, 0 allocs
init runtime @0.040 ms, 0.050 ms clock, 0 bytes, 0 allocs
some other line
init github.com/x/y @1.2 ms, 0.30 ms clock, 92432 bytes, 841 allocs
init runtime @0.041 ms, 0.030 ms clock, 0 bytes, 0 allocs
init github.com/x/y @1.1 ms, 0.10 ms clock, 92432 bytes, 841 allocs
`
	s, err := Read(trace, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 3 || s["runtime"] != 0.04 || s["github.com/x/y"] != 0.2 {
		t.Fatalf("Read = %v", s)
	}
	if got := s.String(); !strings.HasPrefix(got, "0.24 ms over 3 packages; most (ms): github.com/x/y 0.20, runtime 0.04") {
		t.Fatalf("String = %q", got)
	}
	if _, err := Read("init p @1 ms, x ms clock", 1); err == nil {
		t.Fatal("a malformed time was accepted")
	}
}
