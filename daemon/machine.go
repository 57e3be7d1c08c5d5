package daemon

import (
	"slices"
	"time"
)

// State is an instance's state as `ls` shows it.
type State string

// The three states of SPEC §4, and resident: frozen in the background by
// `switch` while another instance has the console. Frozen is an instance
// frozen while it has the console (`freeze`, a commit, Ctrl+Alt+J).
const (
	Stopped  State = "stopped"
	Running  State = "running"
	Frozen   State = "frozen"
	Resident State = "resident"
)

// step is one thing `run` or `switch` must do, in order.
type step int

const (
	stepEndConsole step = iota // end the host shell and give the console to the instance
	stepThaw                   // thaw the frozen instance that has the console
	stepStopOther              // stop the instance that has the console
	stepBoot                   // boot the named instance; it gets the console
	stepPark                   // switch the console away from the one in front, freeze it, keep it resident
	stepResume                 // thaw the resident named instance and give it the console
)

// planRun is the state machine of `run NAME`: given which instance has the
// console (front, "" for none), whether it is frozen, and whether NAME is
// resident, it returns the steps that leave NAME running in front and the
// previous one stopped. Resident instances other than NAME stay as they
// are: `run` replaces the system in front, as the first version did, and
// what was put aside with `switch` is not its business. Whoever typed
// `run` wants to see that system (SPEC §7): once it runs, a host shell
// still open (Ctrl+Alt+J with nothing running) ends and the console
// switches to it. A boot that fails leaves the shell, with the reason, in
// front.
func planRun(front string, frozen bool, name string, resident bool) []step {
	switch {
	case front == name && frozen:
		return []step{stepEndConsole, stepThaw}
	case front == name:
		return nil
	}
	var steps []step
	if front != "" {
		steps = append(steps, stepStopOther)
	}
	if resident {
		return append(steps, stepResume, stepEndConsole)
	}
	return append(steps, stepBoot, stepEndConsole)
}

// planSwitch is the state machine of `switch NAME`: like planRun, but the
// instance in front is frozen and kept resident instead of stopped. The
// console leaves it before the freeze (its display server must answer
// while it can), and the host shell, if open, ends once NAME has the
// console.
func planSwitch(front string, frozen bool, name string, resident bool) []step {
	if front == name || front == "" {
		return planRun(front, frozen, name, resident)
	}
	if resident {
		return []step{stepPark, stepResume, stepEndConsole}
	}
	return []step{stepPark, stepBoot, stepEndConsole}
}

// stateOf is the state of a live instance: in front or resident, frozen
// or not.
func stateOf(front, frozen bool) State {
	switch {
	case !front:
		return Resident
	case frozen:
		return Frozen
	default:
		return Running
	}
}

// parked is what the memory policy knows of one resident instance.
type parked struct {
	name string
	left time.Time // when it last left the console
}

// evictions returns the resident instances to stop, least recently used
// first: enough to bring their count down to max (0: no cap), and one
// more when memory is short. The instance in front is never among
// residents, so never chosen.
func evictions(res []parked, max int, short bool) []string {
	res = slices.Clone(res)
	slices.SortStableFunc(res, func(a, b parked) int { return a.left.Compare(b.left) })
	n := 0
	if max > 0 && len(res) > max {
		n = len(res) - max
	}
	if short && n < len(res) {
		n++
	}
	names := make([]string, 0, n)
	for _, r := range res[:n] {
		names = append(names, r.name)
	}
	return names
}

// cycleTarget is the instance a cycling chord gives the console to: the
// one after front (before it, backwards) among the live instances in ls
// order, wrapping around; the first (last) when none is in front; ""
// when there is no other.
func cycleTarget(live []string, front string, forward bool) string {
	if len(live) == 0 {
		return ""
	}
	step := 1
	if !forward {
		step = len(live) - 1
	}
	i := slices.Index(live, front)
	switch {
	case i < 0 && forward:
		return live[0]
	case i < 0:
		return live[len(live)-1]
	}
	if next := live[(i+step)%len(live)]; next != front {
		return next
	}
	return ""
}
