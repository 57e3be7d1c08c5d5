package archive

import (
	"math/bits"
	"sync"

	"golang.org/x/sys/unix"
)

// arena hands out the buffers that carry file contents from the tar parser
// to the writers. They are mapped outside the Go heap, in power-of-two
// classes, and all the memory an arena maps (in use or kept for reuse)
// stays within max: the daemon's memory during an extraction is then what
// the arena allows, whatever the pace of the garbage collector (on the heap,
// the same 32 MiB in flight made peaks of up to 168 MiB under load).
// get blocks while the arena is full, which paces the parser to the
// writers.
type arena struct {
	mu     sync.Mutex
	cond   sync.Cond
	free   map[int][][]byte // by class size: mapped buffers ready for reuse
	mapped int64            // bytes mapped, in use or free
	max    int64
}

const minClass = 4096

func newArena(max int64) *arena {
	a := &arena{free: map[int][][]byte{}, max: max}
	a.cond.L = &a.mu
	return a
}

// classOf is the mapping size for n bytes: a power of two, at least a page.
func classOf(n int) int {
	if n <= minClass {
		return minClass
	}
	return 1 << bits.Len(uint(n-1))
}

// get returns a buffer of n bytes (n at most max), waiting for room.
func (a *arena) get(n int) ([]byte, error) {
	c := classOf(n)
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		if l := a.free[c]; len(l) > 0 {
			b := l[len(l)-1]
			a.free[c] = l[:len(l)-1]
			return b[:n], nil
		}
		if a.mapped+int64(c) <= a.max {
			b, err := unix.Mmap(-1, 0, c, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				return nil, err
			}
			a.mapped += int64(c)
			return b[:n], nil
		}
		if !a.dropFree() {
			a.cond.Wait() // everything is in use: wait for a writer
		}
	}
}

// dropFree unmaps one kept buffer of any class to make room; it reports
// whether there was one.
func (a *arena) dropFree() bool {
	for c, l := range a.free {
		if len(l) > 0 {
			unix.Munmap(l[len(l)-1][:c])
			a.free[c] = l[:len(l)-1]
			a.mapped -= int64(c)
			return true
		}
	}
	return false
}

// put returns a buffer from get for reuse.
func (a *arena) put(b []byte) {
	if b == nil {
		return
	}
	c := cap(b)
	a.mu.Lock()
	a.free[c] = append(a.free[c], b[:c])
	a.mu.Unlock()
	a.cond.Signal()
}

// release unmaps every kept buffer; no buffer may be in use.
func (a *arena) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.dropFree() {
	}
}
