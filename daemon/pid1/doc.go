// Package pid1 holds the mechanics of being the first process of a Linux
// machine: mounting the API file systems the kernel leaves to init, turning
// off the kernel's immediate Ctrl+Alt+Del reboot, loading the kernel modules
// for the hardware present (no udev runs before an instance does), reading
// the initns.* settings of the kernel command line, sending errors to the
// kernel log, and keeping a shell on a serial terminal (started as every
// host shell is, by daemon/internal/hostshell).
//
// The daemon decides when to call these (Setup only when it is PID 1); the
// package never exits the process, never waits for children itself (package
// reaper owns wait4) and never returns an error that could stop the daemon:
// it logs and goes on, as a PID 1 must.
//
// Parsing (the kernel command line, modules.alias, modules.dep,
// modules.builtin, modprobe.d; mountinfo through github.com/moby/sys/mountinfo)
// reads from an io.Reader and is unit-tested;
// the syscalls sit in the _linux.go files and are proven by the VM tests of
// vmtest/. An xz-compressed module is read by package archive's xz
// decoder, the images' own (one xz decoder in the binary).
package pid1
