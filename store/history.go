package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"
)

// historyF is the boot history under the state root: one JSON event per
// line, oldest first.
const historyF = "history"

// The history's bounds: the newest HistoryMax events are kept, each text
// field cut at maxEventText bytes, so the file stays under about 400 KiB
// whatever the instances do; a longer file (written by hand) is read only
// up to maxHistoryRead.
const (
	HistoryMax     = 1000
	maxEventText   = 256
	maxHistoryRead = 4 << 20
)

// The kinds of history event.
const (
	EventBoot    = "boot"    // the daemon started the instance's init
	EventEnd     = "end"     // its init ended (or never started: How says why)
	EventGood    = "good"    // it has run long enough to count as a good boot
	EventFailed  = "failed"  // it ended too soon too many times in a row: not booted on its own again
	EventRemoved = "removed" // rm: an instance made later under the name starts afresh
)

// Event is one entry of the boot history.
type Event struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	Kind     string    `json:"kind"`
	// Why: for a boot, who asked (run, default, menu, fallback, reboot);
	// for failed, the reason.
	Why string `json:"why,omitempty"`
	// How an end ended: powered off, rebooted, exit status N, signal S,
	// stopped, killed by stop, failed before exec: REASON.
	How string `json:"how,omitempty"`
	// Ran is how long the init ran, for an end.
	Ran time.Duration `json:"ran,omitempty"`
	// Quick marks an end that counts as a failed try: the init ended by
	// itself (no stop asked for it) this soon after its boot.
	Quick bool `json:"quick,omitempty"`
}

// History is the boot history of a state root, kept in memory and written
// whole to a temporary file, synced and renamed over the old one, so a
// crash at any moment leaves the file before or after an event, never
// torn. Record is for callers that must not wait for the disk (a boot):
// the event is in memory at once, and the newest state is written behind
// it by one writer, several events in one write when they come fast.
// Safe for concurrent use.
type History struct {
	s *Store
	// OnError, if set, is told of a write that failed (Record has no
	// caller waiting to tell). Set it before the first Record.
	OnError func(error)

	mu       sync.Mutex // guards the fields below; never held across disk I/O
	written  *sync.Cond // on mu: signalled after each write
	events   []Event
	gen, out int64 // events recorded, and how many of them are on disk
	writing  bool  // the writer runs
	err      error // the last write's outcome
}

// History opens the state root's boot history. A line that does not
// parse (the file edited by hand) is skipped, not fatal: the history
// informs, it must never keep the daemon from starting.
func (s *Store) History() (*History, error) {
	h := &History{s: s}
	h.written = sync.NewCond(&h.mu)
	f, err := os.Open(s.path(historyF))
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("read boot history: %w", err)
	}
	defer f.Close()
	h.events, err = readEvents(io.LimitReader(f, maxHistoryRead))
	if err != nil {
		return h, fmt.Errorf("read boot history %s: %w", s.path(historyF), err)
	}
	return h, nil
}

// readEvents parses the history's lines, skipping any that is not an event.
func readEvents(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		var e Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Instance != "" && e.Kind != "" {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return out, err
	}
	return trimEvents(out), nil
}

// Record adds e to the history at once; it reaches the disk shortly
// after. The oldest events go past HistoryMax.
func (h *History) Record(e Event) {
	e.Why, e.How = cut(e.Why), cut(e.How)
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = trimEvents(append(h.events, e))
	h.gen++
	if !h.writing {
		h.writing = true
		go h.write()
	}
}

// Append adds e to the history durably: when it returns nil, the event
// (and every one recorded before it) is on disk.
func (h *History) Append(e Event) error {
	h.Record(e)
	return h.Flush()
}

// Flush waits until every event recorded so far is on disk, and returns
// the last write's error.
func (h *History) Flush() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for gen := h.gen; h.out < gen; {
		h.written.Wait()
	}
	return h.err
}

// write writes the newest state until the disk has caught up. Each write
// is the whole history, so the last one written holds every event.
func (h *History) write() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.out < h.gen {
		gen, events := h.gen, h.events // trimEvents made it: never changed in place
		h.mu.Unlock()
		err := h.writeFile(events)
		if err != nil && h.OnError != nil {
			h.OnError(err)
		}
		h.mu.Lock()
		h.out, h.err = gen, err
		h.written.Broadcast()
	}
	h.writing = false
}

func (h *History) writeFile(events []Event) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, ev := range events {
		if err := enc.Encode(ev); err != nil {
			return fmt.Errorf("boot history: %w", err)
		}
	}
	if err := h.s.writeAtomic(historyF, buf.Bytes()); err != nil {
		return fmt.Errorf("write boot history: %w", err)
	}
	return nil
}

// Events returns the history, oldest first; with name, only its events.
func (h *History) Events(name string) []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Event
	for _, e := range h.events {
		if name == "" || e.Instance == name {
			out = append(out, e)
		}
	}
	return out
}

// trimEvents keeps the newest HistoryMax events, in a slice of its own.
func trimEvents(events []Event) []Event {
	if len(events) > HistoryMax {
		events = events[len(events)-HistoryMax:]
	}
	return append([]Event(nil), events...)
}

// cut bounds a text field of an event.
func cut(s string) string {
	if len(s) <= maxEventText {
		return s
	}
	return s[:maxEventText-3] + "..."
}
