package reaper

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Exit is how a process ended.
type Exit struct {
	Pid    int
	Status unix.WaitStatus
}

// String says how the process ended, for a log or a person: "exited 3",
// "killed by SIGKILL", or the raw status when it is neither.
func (e Exit) String() string {
	ws := e.Status
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited %d", ws.ExitStatus())
	case ws.Signaled():
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("status %#x", uint32(ws))
}
