package store

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHistoryAppendAndReopen(t *testing.T) {
	s := newStore(t)
	h, err := s.History()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range HistoryMax + 10 {
		h.Record(Event{Instance: "box", Kind: EventEnd, Why: strconv.Itoa(i), How: "exit status 1", Ran: time.Second, Quick: true})
	}
	if err := h.Append(Event{Instance: "other", Kind: EventBoot, Why: strings.Repeat("x", 10000)}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events recorded, then one appended durably: %v", HistoryMax+11, time.Since(start).Round(time.Millisecond))
	h2, err := s.History()
	if err != nil {
		t.Fatal(err)
	}
	all := h2.Events("")
	if len(all) != HistoryMax {
		t.Fatalf("%d events kept, want the bound %d", len(all), HistoryMax)
	}
	if all[0].Why != "11" || all[len(all)-2].Why != strconv.Itoa(HistoryMax+9) {
		t.Errorf("kept events %s..%s: want the newest", all[0].Why, all[len(all)-2].Why)
	}
	if last := all[len(all)-1]; len(last.Why) > maxEventText || last.Instance != "other" || last.Time.IsZero() {
		t.Errorf("last event %q (%d bytes of why), time %v: want it cut to %d bytes and stamped", last.Instance, len(last.Why), last.Time, maxEventText)
	}
	if n := len(h2.Events("other")); n != 1 {
		t.Errorf("Events(other): %d events, want 1", n)
	}
	fi, err := os.Stat(filepath.Join(s.root, historyF))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 400<<10 || fi.Mode().Perm() != fileMode {
		t.Errorf("history file: %d bytes, mode %v; want under 400 KiB, %v", fi.Size(), fi.Mode().Perm(), os.FileMode(fileMode))
	}
}

// TestHistoryHandEdited: lines that are not events (a file edited by hand,
// a line too long) are skipped; the rest is read.
func TestHistoryHandEdited(t *testing.T) {
	s := newStore(t)
	text := `{"time":"2026-01-02T03:04:05Z","instance":"box","kind":"boot","why":"run"}
not json
{"instance":"","kind":"boot"}
` + strings.Repeat("y", 100<<10) + `
{"time":"2026-01-02T03:04:09Z","instance":"box","kind":"end","how":"exit status 3","ran":4000000000,"quick":true}
`
	if err := os.WriteFile(filepath.Join(s.root, historyF), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := s.History()
	if err != nil {
		t.Fatal(err)
	}
	ev := h.Events("box")
	if len(ev) != 1 || ev[0].Kind != EventBoot {
		t.Fatalf("events read: %+v; want the boot before the over-long line (the scanner stops there)", ev)
	}
}

// historyCrashOp appends numbered events for ever, each one after the
// last number the history holds (the crash test's child).
func historyCrashOp(s *Store) error {
	h, err := s.History()
	if err != nil {
		return err
	}
	next := 0
	if ev := h.Events(""); len(ev) > 0 {
		next, _ = strconv.Atoi(ev[len(ev)-1].Why)
		next++
	}
	// Every tenth durably, the rest as the daemon records a boot.
	for ; ; next++ {
		e := Event{Instance: "box", Kind: EventEnd, Why: strconv.Itoa(next), How: "exit status 1"}
		if next%10 != 0 {
			h.Record(e)
		} else if err := h.Append(e); err != nil {
			return err
		}
	}
}

// TestHistoryCrashSafety kills a child appending to the history with
// SIGKILL at random moments, 50 times: every line of the file is always a
// whole event, the numbers run without a gap, nothing acknowledged before
// is lost, and the file keeps its bound.
func TestHistoryCrashSafety(t *testing.T) {
	root := filepath.Join(t.TempDir(), "state")
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := s.History()
	// Start near the bound, so that kills also land while the oldest
	// events are dropped.
	for i := range HistoryMax - 20 {
		if err := h.Append(Event{Instance: "box", Kind: EventEnd, Why: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	last, midway := HistoryMax-21, 0
	for i := range 50 {
		killDuring(t, "history", root, "", time.Duration(rand.IntN(40000))*time.Microsecond)
		if ents, _ := os.ReadDir(filepath.Join(root, scratchDir)); len(ents) > 0 {
			midway++
		}
		got := checkHistoryFile(t, root)
		if got < last {
			t.Fatalf("kill %d: the history ends at %d, before %d which it held already", i, got, last)
		}
		last = got
	}
	t.Logf("50 kills, %d in the middle of a write; the history reached event %d", midway, last)
	if midway < 10 {
		t.Errorf("only %d of 50 kills hit a write in progress: the test proves little", midway)
	}
	if last < HistoryMax {
		t.Errorf("the history never passed its bound (last event %d)", last)
	}
}

// checkHistoryFile reopens the store and checks the history file line by
// line; it returns the last event's number.
func checkHistoryFile(t *testing.T, root string) int {
	t.Helper()
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, historyF))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	prev, n := -1, 0
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d is not a whole event: %v: %q", n+1, err, sc.Text())
		}
		seq, _ := strconv.Atoi(e.Why)
		if prev >= 0 && seq != prev+1 {
			t.Fatalf("line %d: event %d after %d", n+1, seq, prev)
		}
		prev = seq
		n++
	}
	if n > HistoryMax || n == 0 {
		t.Fatalf("%d events in the file, bound %d", n, HistoryMax)
	}
	return prev
}
