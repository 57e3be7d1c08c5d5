package archive

import (
	"testing"
	"time"
)

// TestArenaBound: the arena never maps more than its maximum; a request
// that does not fit waits for a buffer to come back, then reuses or
// unmaps kept buffers to make room.
func TestArenaBound(t *testing.T) {
	a := newArena(64 << 10)
	defer a.release()
	big, err := a.get(40000) // a 64 KiB class: the whole arena
	if err != nil || len(big) != 40000 || cap(big) != 64<<10 {
		t.Fatalf("get: len %d cap %d err %v", len(big), cap(big), err)
	}
	big[39999] = 1
	got := make(chan []byte)
	go func() {
		b, _ := a.get(100)
		got <- b
	}()
	select {
	case <-got:
		t.Fatal("get beyond the maximum did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	a.put(big)
	small := <-got
	if len(small) != 100 || cap(small) != minClass {
		t.Errorf("small buffer: len %d cap %d", len(small), cap(small))
	}
	if a.mapped > a.max {
		t.Errorf("mapped %d over %d", a.mapped, a.max)
	}
	a.put(small)
	again, _ := a.get(3000)
	if &again[0] != &small[0] {
		t.Error("a kept buffer of the same class was not reused")
	}
	a.put(again)
}
