package daemon

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// heapKept is how much heap the daemon keeps mapped once a request has
// ended before it hands the rest back to the kernel at once. The Go
// runtime keeps freed heap resident until a collection and its scavenger
// return it, and an idle daemon collects only every two minutes: after an
// image refused at the 64 MiB directory metadata limit, the daemon stayed
// at 130 MiB resident for more than two minutes, memory PID 1's instances
// could not use. A request of the usual size leaves far less than this.
const heapKept = 64 << 20

// lastRelease is when the last release ended (UnixNano), and releasing
// whether one is scheduled or running: releases come at most once a
// second, so that a stream of small requests beside one that legitimately
// holds more than heapKept does not pay a collection each, and one asked
// for meanwhile is put off, never dropped.
var (
	lastRelease atomic.Int64
	releasing   atomic.Bool
)

// releaseMemory runs after every request: when the heap holds more than
// heapKept, it collects and returns the free memory to the kernel
// (debug.FreeOSMemory) on a goroutine of its own.
func releaseMemory(log *slog.Logger) {
	if heapHeld() <= heapKept || !releasing.CompareAndSwap(false, true) {
		return
	}
	wait := time.Duration(lastRelease.Load() + int64(time.Second) - time.Now().UnixNano())
	time.AfterFunc(max(wait, 0), func() {
		spawn(log, "release memory", func() {
			defer releasing.Store(false)
			debug.FreeOSMemory()
			lastRelease.Store(time.Now().UnixNano())
		})
	})
}

// heapHeld is what the heap holds from the kernel: its spans, in use
// or free, less what the scavenger already returned. runtime.MemStats
// rather than runtime/metrics: that package builds its table of metrics
// at every start of the binary (0.1 ms), and the client, the same
// binary, pays it for nothing.
func heapHeld() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapSys - m.HeapReleased
}
