// Package nsexec owns the namespace stage: the daemon side (Start) clones
// /proc/self/exe into new PID, mount and cgroup namespaces, born inside the
// instance's cgroup, and the child side (Main, run as "initns-nsexec") turns
// the instance's root filesystem into its root and execs its /sbin/init. Any
// failure before that exec travels back to the daemon over a close-on-exec
// pipe, so `run` reports the reason.
package nsexec

// Stage is the argv[0] under which the binary runs the child side.
const Stage = "initns-nsexec"

// Init is the program an instance boots.
const Init = "/sbin/init"

// errFD is the child's descriptor for the error pipe (after stdin, stdout,
// stderr).
const errFD = 3
