// Package daemon is the init daemon: it decides. It serves the socket (the
// compatibility mode byte for byte, and the client mode of package proto),
// owns the instance state machine (stopped, running, frozen; at most one
// running or frozen at a time), boots instances through nsexec into cgroups
// of cgroupfs, stops, freezes and thaws them, restarts one that rebooted
// itself, and logs every request and state change. Run as PID 1 it also does
// the duties of package pid1 and never exits.
package daemon
