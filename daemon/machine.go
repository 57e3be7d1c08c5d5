package daemon

// State is an instance's state as `ls` shows it.
type State string

// The three states of SPEC §4.
const (
	Stopped State = "stopped"
	Running State = "running"
	Frozen  State = "frozen"
)

// step is one thing `run` must do, in order.
type step int

const (
	stepEndConsole step = iota // end the host shell and give the console to the instance
	stepThaw                   // thaw the frozen instance
	stepStopOther              // stop the instance that holds the machine
	stepBoot                   // boot the named instance
)

// planRun is the state machine of `run NAME`: given which instance holds
// the machine (active, "" for none) and whether it is frozen, it returns the
// steps that leave NAME running with no other instance running or frozen.
// Whoever typed `run` wants to see that system (SPEC §7): once it runs, a
// host shell still open (Ctrl+Alt+J with nothing running) ends and the
// console switches to it. A boot that fails leaves the shell, with the
// reason, in front.
func planRun(active string, frozen bool, name string) []step {
	switch {
	case active == name && frozen:
		return []step{stepEndConsole, stepThaw}
	case active == name:
		return nil
	case active != "":
		return []step{stepStopOther, stepBoot, stepEndConsole}
	default:
		return []step{stepBoot, stepEndConsole}
	}
}

// stateOf is the state of name given the machine's holder.
func stateOf(name, active string, frozen bool) State {
	switch {
	case name != active:
		return Stopped
	case frozen:
		return Frozen
	default:
		return Running
	}
}
