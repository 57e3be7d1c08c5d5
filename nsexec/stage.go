package nsexec

import "fmt"

// stage names the step of a child that failed, in the record it sends
// the daemon; stage 0 carries exec's command pid instead.
type stage uint32

const (
	stagePrivate stage = iota + 1
	stageBind
	stageEnter
	stagePivot
	stageDetach
	stageMove
	stageChroot
	stageChdir
	stageConsole
	stageSetsid
	stageCloseRange
	stageExec
	stageJoin
	stageFork
	stageExecCommand
	stageDev
	stageCtty
	stageUser
	stageCwd
	stageBindHost
	stageReadOnly
)

func (s stage) String() string {
	names := [...]string{"", "make / private", "bind the root filesystem on itself", "enter the root filesystem",
		"pivot_root", "detach the old root", "move the root filesystem over /", "chroot", "chdir /",
		"set up stdin, stdout and stderr", "setsid", "close the daemon's descriptors", "exec " + Init,
		"join the instance's namespaces", "fork the command", "exec the command", "mount devtmpfs on /dev",
		"make the terminal its controlling terminal", "switch to the user", "change to the working directory",
		"bind the running kernel's modules or firmware into the root", "make the kernel's modules or firmware read-only"}
	if int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprintf("step %d", s)
}
