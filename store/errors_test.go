package store

import (
	"errors"
	"testing"

	"initns/archive"
)

// TestNewErrorCauses: New of a corrupt .tar.gz wraps ErrBadImage and the
// decoder's own error, which errors.As reaches (%w for both).
func TestNewErrorCauses(t *testing.T) {
	sb := newSandbox(t)
	g := gzipBytes(makeTar(t, file("etc/hostname", "box")))
	g[10] |= 0x06 // the first DEFLATE block's type: the reserved 11
	err := sb.newFrom("corrupt.tar.gz", g)
	var ce *archive.CorruptError
	if !errors.Is(err, ErrBadImage) || !errors.As(err, &ce) {
		t.Fatalf("New of a corrupt .tar.gz: %v; want ErrBadImage and a *archive.CorruptError", err)
	}
	if ce.Offset <= 0 {
		t.Errorf("CorruptError at offset %d", ce.Offset)
	}
	sb.untouched()
}
