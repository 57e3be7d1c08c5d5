package daemon

import (
	"strings"
	"testing"
	"time"

	"initns/store"
)

// ev builds a history from a compact script: b boot, q end too soon, e end
// that lasted, s end asked by a stop, g good, f failed, r removed.
func ev(script string) []store.Event {
	var out []store.Event
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i, c := range script {
		e := store.Event{Time: at.Add(time.Duration(i) * time.Minute), Instance: "box"}
		switch c {
		case 'b':
			e.Kind, e.Why = store.EventBoot, "default"
		case 'q':
			e.Kind, e.How, e.Ran, e.Quick = store.EventEnd, "exited 1", time.Second, true
		case 'e':
			e.Kind, e.How, e.Ran = store.EventEnd, "powered off", time.Hour
		case 's':
			e.Kind, e.How, e.Ran = store.EventEnd, "stopped (exited 0)", 2*time.Second
		case 'g':
			e.Kind = store.EventGood
		case 'f':
			e.Kind, e.Why = store.EventFailed, "its init ended 3 times"
		case 'r':
			e.Kind = store.EventRemoved
		}
		out = append(out, e)
	}
	return out
}

// TestTally counts failed tries over recorded event sequences.
func TestTally(t *testing.T) {
	for _, tc := range []struct {
		script string
		quick  int
		failed bool
	}{
		{"", 0, false},
		{"b", 0, false},           // running, or the machine went down: says nothing
		{"bq", 1, false},          // one try too soon
		{"bqbqbq", 3, false},      // three in a row: afterEnd marks it
		{"bqbqbqf", 0, true},      // marked
		{"bqbqbqfbq", 1, true},    // a person ran it again, too soon: still failed
		{"bqbqbqfbgbq", 1, false}, // a good boot cleared the mark
		{"bqbqbe", 0, false},      // a boot that lasted clears the count
		{"bqbqbs", 0, false},      // a stop is not a failure, and ends the run
		{"bqbqbgbq", 1, false},    // good, then power lost, then one too soon
		{"bqbqbqfrbq", 1, false},  // removed: a new instance of the name starts afresh
		{"bqbqb", 2, false},       // two too soon, a third boot under way
	} {
		got := tallyOf(ev(tc.script))
		if got.quick != tc.quick || (got.failed != "") != tc.failed {
			t.Errorf("%q: %d too soon, failed %q; want %d, failed %v", tc.script, got.quick, got.failed, tc.quick, tc.failed)
		}
	}
	if last := tallyOf(ev("bqbe")).last; last.How != "powered off" {
		t.Errorf("last end: %+v, want the newest", last)
	}
}

func TestIsQuickAndHowEnded(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		stopping bool
		ended    string
		started  time.Time
		ran      time.Duration
		want     bool
	}{
		{false, "exited 1", now, time.Second, true},
		{false, "exited 0", now, time.Second, true},
		{false, "rebooted", now, time.Second, true},          // a reboot loop
		{false, "powered off", now, time.Second, false},      // its own clean decision
		{false, "exited 1", now, 30 * time.Second, false},    // lasted
		{true, "killed by SIGKILL", now, time.Second, false}, // a stop asked for it
		{false, "exited 1", time.Time{}, time.Second, false}, // adopted: its start is unknown
	} {
		if got := isQuick(tc.stopping, tc.ended, tc.started, tc.ran, 30*time.Second); got != tc.want {
			t.Errorf("isQuick(stopping %v, %q, started %v, ran %v) = %v", tc.stopping, tc.ended, !tc.started.IsZero(), tc.ran, got)
		}
	}
	for _, tc := range [][3]string{
		{"true", "killed by SIGKILL", "killed by stop"},
		{"true", "exited 0", "stopped (exited 0)"},
		{"false", "killed by SIGKILL", "killed by SIGKILL"},
		{"false", "powered off", "powered off"},
	} {
		if got := howEnded(tc[0] == "true", tc[1]); got != tc[2] {
			t.Errorf("howEnded(%s, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

// TestPlanStart: what the machine does at start, for each state of the
// default and its fallback.
func TestPlanStart(t *testing.T) {
	failed := func(bad ...string) func(string) string {
		return func(n string) string {
			for _, b := range bad {
				if n == b {
					return "ended 3 times"
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name, def, fallback string
		menu                int
		bad                 []string
		want                startPlan
		note                string
	}{
		{name: "default, no menu", def: "box", menu: -1, want: startPlan{boot: "box", def: "box", why: "default"}},
		{name: "default, menu 0", def: "box", menu: 0, want: startPlan{boot: "box", def: "box", why: "default"}},
		{name: "default, menu 5", def: "box", menu: 5, want: startPlan{boot: "box", def: "box", why: "default", menu: true, seconds: 5}},
		{name: "nothing to boot", menu: -1, want: startPlan{why: "default", menu: true}},
		{name: "failed, fallback", def: "box", fallback: "rescue", menu: 5, bad: []string{"box"},
			want: startPlan{boot: "rescue", def: "rescue", why: "fallback", menu: true, seconds: 5}, note: "Booting its fallback rescue"},
		{name: "failed, no fallback", def: "box", menu: 0, bad: []string{"box"},
			want: startPlan{def: "box", menu: true}, note: "box is marked failed: ended 3 times"},
		{name: "failed, fallback failed too", def: "box", fallback: "rescue", menu: 0, bad: []string{"box", "rescue"},
			want: startPlan{def: "box", menu: true}, note: "Choose another"},
		{name: "failed, itself its fallback", def: "box", fallback: "box", menu: 0, bad: []string{"box"},
			want: startPlan{def: "box", menu: true}, note: "box is marked failed"},
	} {
		got := planStart(tc.def, tc.fallback, tc.menu, failed(tc.bad...))
		note := got.note
		got.note = ""
		if got != tc.want || !strings.Contains(note, tc.note) {
			t.Errorf("%s: %+v note %q; want %+v note with %q", tc.name, got, note, tc.want, tc.note)
		}
	}
}

// TestAutomatic: only the boots the daemon made itself are tried again.
func TestAutomatic(t *testing.T) {
	for why, want := range map[string]bool{"default": true, "fallback": true, "reboot": true, "retry": true, "run": false, "menu": false} {
		if automatic(why) != want {
			t.Errorf("automatic(%q) = %v", why, !want)
		}
	}
}

func TestDescribeBoots(t *testing.T) {
	lines := describeBoots(ev("bqbqbqf"), 3)
	if len(lines) != 3 || !strings.Contains(lines[0], "marked failed") || !strings.Contains(lines[1], "exited 1, after 1s (too soon") || !strings.Contains(lines[2], "booted (default)") {
		t.Errorf("describeBoots: %q", lines)
	}
}
