// Package console owns the host shell of SPEC §7: when the hotkey fires it
// freezes the running instance (through the daemon's Host), starts a shell
// as a new session on /dev/tty63 and brings VT 63 to front, held there
// while the shell lives; when `initns run` thaws the frozen instance, or
// the shell exits, it ends the shell's whole session and gives the console
// back to VT 1.
//
// The package knows nothing of the daemon's internals: the daemon hands it
// a Host, calls Manager.Chord from the hotkey and Manager.EndShell from
// `run`. Every child it starts goes through initns/daemon/reaper, which
// owns wait4 for the process.
package console
