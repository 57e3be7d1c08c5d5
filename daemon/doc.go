// Package daemon is the init daemon: it decides. It serves the socket (the
// compatibility mode byte for byte, and the client mode of package proto),
// owns the instance state machine (stopped, running, frozen, resident: one
// instance has the console, running or frozen, and others may be resident,
// frozen in the background by `switch`), boots instances through nsexec
// into cgroups of cgroupfs, stops, freezes and thaws them, moves the
// console between them, stops the least recently used resident one when
// memory is short, restarts one that rebooted itself, and logs every
// request and state change. Run as PID 1 it also does
// the duties of package pid1 and never exits.
package daemon
