package daemon

import (
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
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

// heapSamples are the heap's live and unswept objects, its free spans not
// yet returned to the kernel, and the unused tails of its spans.
var heapSamples = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/free:bytes", "/memory/classes/heap/unused:bytes"}

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

// heapHeld is what the heap holds: heapSamples added up.
func heapHeld() uint64 {
	s := make([]metrics.Sample, len(heapSamples))
	for i, name := range heapSamples {
		s[i].Name = name
	}
	metrics.Read(s)
	var held uint64
	for _, x := range s {
		if x.Value.Kind() == metrics.KindUint64 {
			held += x.Value.Uint64()
		}
	}
	return held
}
