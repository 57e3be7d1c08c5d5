package daemon

import (
	"fmt"
	"strings"
	"time"

	"initns/store"
)

// The decisions of fallback, as pure functions over the boot history: how
// an end is told, whether an instance is failed, and what to do at start.

// tally is an instance's record of tries, read from its history.
type tally struct {
	quick  int         // ends too soon in a row, since its last good boot
	failed string      // why it is marked failed, or ""
	last   store.Event // its last end, if any
}

// tallyOf reads one instance's events (oldest first). Walking back from
// the newest: a good boot, an end that was not too soon, or the removal of
// an instance of that name ends the run of tries; each end too soon counts
// one; a failed mark ends the walk with the instance failed. A boot with
// no end after it (the machine went down meanwhile) says nothing.
func tallyOf(events []store.Event) tally {
	var t tally
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		if e.Kind == store.EventEnd && t.last.Kind == "" {
			t.last = e
		}
		switch {
		case e.Kind == store.EventGood, e.Kind == store.EventRemoved,
			e.Kind == store.EventEnd && !e.Quick:
			return t
		case e.Kind == store.EventEnd:
			t.quick++
		case e.Kind == store.EventFailed:
			t.failed = e.Why
			return t
		}
	}
	return t
}

// failReason is the reason an instance is marked failed: its tries, the
// window, and the last end.
func failReason(n int, within time.Duration, last string) string {
	return fmt.Sprintf("its init ended %d times in a row within %v of its boot; the last: %s", n, within, last)
}

// howEnded says how a boot ended for the history: a stop's kill as such,
// an end asked for by a stop as "stopped (...)", else as the init ended.
func howEnded(stopping bool, ended string) string {
	switch {
	case stopping && ended == "killed by SIGKILL":
		return "killed by stop"
	case stopping:
		return "stopped (" + ended + ")"
	}
	return ended
}

// isQuick tells an end that counts as a failed try: the init ended by
// itself (no stop asked) within the window of its boot. A poweroff or halt
// from inside is the instance's own clean decision, never a failure (a
// reboot is: a system that reboots at once loops). An adopted boot, whose
// start is unknown, never counts.
func isQuick(stopping bool, ended string, started time.Time, ran, within time.Duration) bool {
	return !stopping && ended != "powered off" && !started.IsZero() && ran < within
}

// automatic tells a boot the daemon made on its own: at start, as a
// fallback, again after a reboot inside or a failed try. An instance that
// ends too soon after one is tried again; one a person booted (run, the
// menu) is left stopped, with the reason in ls and the history.
func automatic(why string) bool {
	switch why {
	case "default", "fallback", "reboot", "retry":
		return true
	}
	return false
}

// startPlan is what the daemon does at machine start.
type startPlan struct {
	boot    string // the instance to boot, "" for none
	def     string // the menu's default entry (boot, or the failed default)
	why     string // default or fallback
	menu    bool   // show the menu first (then boot is what it counts down to)
	seconds int    // the menu's countdown; 0 for none
	note    string // a failure to name on the menu, or in the log
}

// planStart decides the start: name is initns.run= or the stored
// default; menu the countdown (-1: none asked); failed says why an
// instance is marked failed, or "". A failed default gives way to a
// fallback that is not failed itself, else to the menu naming the
// failure, with no countdown: booting it unasked would loop. With nothing
// to boot the menu shows, saying what to do.
func planStart(name, fallback string, menu int, failed func(string) string) startPlan {
	p := startPlan{boot: name, def: name, why: "default"}
	if name != "" {
		if why := failed(name); why != "" {
			p.note = fmt.Sprintf("%s is marked failed: %s.", name, why)
			if fallback != "" && fallback != name && failed(fallback) == "" {
				p.boot, p.def, p.why = fallback, fallback, "fallback"
				p.note += " Booting its fallback " + fallback + "."
			} else {
				return startPlan{def: name, note: p.note + " Choose another, or fix it from the host shell (s).", menu: true}
			}
		}
	}
	switch {
	case p.boot == "":
		p.menu = true
	case menu > 0:
		p.menu, p.seconds = true, menu
	}
	return p
}

// describeBoots renders an instance's last boots for the menu's detail
// view, newest first: each boot with who asked, and how it ended.
func describeBoots(events []store.Event, n int) []string {
	var out []string
	for i := len(events) - 1; i >= 0 && len(out) < n; i-- {
		e := events[i]
		at := e.Time.Local().Format("2006-01-02 15:04:05")
		switch e.Kind {
		case store.EventBoot:
			out = append(out, at+" booted ("+e.Why+")")
		case store.EventEnd:
			out = append(out, at+" "+describeEnd(e))
		case store.EventGood:
			out = append(out, at+" counted as a good boot")
		case store.EventFailed:
			out = append(out, at+" marked failed: "+e.Why)
		}
	}
	return out
}

// describeEnd is an end as people read it: how, after how long, and
// whether it counted as a failed try.
func describeEnd(e store.Event) string {
	s := "ended: " + e.How
	if e.Ran > 0 {
		s += ", after " + e.Ran.Round(time.Millisecond).String()
	}
	if e.Quick {
		s += " (too soon: a failed try)"
	}
	return s
}

// lastLine is an instance's last boot in one line for the menu's list.
func lastLine(t tally) string {
	if t.last.Kind == "" {
		return ""
	}
	return t.last.Time.Local().Format("01-02 15:04") + " " + strings.TrimPrefix(describeEnd(t.last), "ended: ")
}
