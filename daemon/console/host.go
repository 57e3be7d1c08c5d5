package console

import "time"

// Host is what the console needs from the daemon. The Manager calls it
// without holding any lock of its own, so Host methods may take the
// daemon's locks, even the one the daemon holds while calling EndShell.
type Host interface {
	// FreezeRunning freezes the running instance, if any, and returns its
	// name ("" when none is running). It waits up to timeout for the
	// kernel to confirm (cgroup.events "frozen 1"); if that does not
	// happen it thaws the instance again and returns the tasks that would
	// not freeze in stuck (pids and names, for the user), and err nil:
	// the shell opens anyway. An error means the freeze was not attempted
	// or failed otherwise; the shell opens anyway too.
	FreezeRunning(timeout time.Duration) (name string, stuck []string, err error)
	// ThawFrozen thaws instance name if it is still frozen by
	// FreezeRunning, and does nothing otherwise (it was thawed, stopped or
	// frozen again for another reason). The Manager calls it when the
	// shell ended by itself (`exit`), and to undo a freeze whose shell
	// could not be opened.
	ThawFrozen(name string) error
}
