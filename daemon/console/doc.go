// Package console owns the host shell of SPEC §7: when the hotkey fires it
// freezes the running instance (through the daemon's Host), starts a shell
// (daemon/internal/hostshell) as a new session on /dev/tty63 and brings VT 63 to front, held there
// while the shell lives; when `initns run` thaws the frozen instance, or
// the shell exits, it ends the shell's whole session and gives the console
// back to VT 1. For `switch` it moves the console between instances:
// Leave records the departing instance's VT, its keyboard and display
// mode and its screen, and makes a display server holding that VT release
// it before the freeze; Arrive puts them back and brings the VT to front
// before the arriving instance thaws. TakeChords keeps the daemon's
// chords out of the programs on the VTs (their keymap entries say
// nothing), GiveBackChords undoes it.
//
// The package knows nothing of the daemon's internals: the daemon hands it
// a Host, calls Manager.Chord from the hotkey and Manager.EndShell from
// `run`. Every child it starts goes through initns/reaper, which
// owns wait4 for the process.
//
// Wiring, in the daemon:
//
//	m := console.New(host, log, console.Config{})
//	go hotkey.Watch(ctx, "/dev/input", func() { go m.Chord() })
//	...
//	m.EndShell() // in `run` of the frozen instance, before thawing it
//
// The shell's session is every process whose session id is the shell's
// pid, read from /proc; a process that left it with setsid(2) is not
// the shell's any more and is left alone. When the daemon is PID 1 the
// session's orphans are re-parented to it and the reaper reaps them; a
// daemon that is not PID 1 relies on the host's init for that, or should
// be a child subreaper (PR_SET_CHILD_SUBREAPER), as the tests are.
package console
