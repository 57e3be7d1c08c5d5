package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestNewCancelMidway cancels New at several points while the writers are
// busy: each time the error is the context's and nothing is left behind.
func TestNewCancelMidway(t *testing.T) {
	s := newStore(t)
	var files []entry
	for i := range 3000 {
		files = append(files, file(fmt.Sprintf("d%02d/f%04d", i%50, i), strings.Repeat("c", 2000+i)))
	}
	os.WriteFile(s.ImagePath("many.tar.gz"), gzipBytes(makeTar(t, files...)), 0o600)
	cancelled := 0
	for _, after := range []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 60 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), after)
		err := s.New(ctx, "box", "many.tar.gz", nil)
		cancel()
		if err == nil {
			if err := s.Remove("box"); err != nil {
				t.Fatal(err)
			}
			continue // finished first: nothing to check at this point
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("New cancelled after %v: %v", after, err)
		}
		cancelled++
		if ins, _ := s.Instances(); len(ins) != 0 {
			t.Errorf("instances %v", ins)
		}
		for _, d := range []string{rootfsDir, scratchDir} {
			if ents, _ := os.ReadDir(s.path(d)); len(ents) != 0 {
				t.Errorf("after %v: %s/ not empty: %v", after, d, ents)
			}
		}
	}
	if cancelled == 0 {
		t.Error("every New finished before its deadline: the test proved nothing")
	}
}
