// Package nsexec owns the namespace stage: it clones the instance's init
// with clone3 into new PID, mount and cgroup namespaces, born inside the
// instance's cgroup, and in the child, before execve, makes the instance's
// root filesystem the root of the new mount namespace (pivot_root, or move
// and chroot on an initramfs) and execs /sbin/init on the console. A failure
// before that exec travels back to the daemon over a close-on-exec pipe, so
// `run` reports the reason.
//
// The child runs no Go runtime: like the child of syscall.ForkExec, it only
// makes raw system calls prepared by the parent. Re-executing the binary as
// a separate stage would cost a Go runtime start (about 1 ms, more than a
// fork+exec of the init itself) on every boot.
package nsexec

// Init is the program an instance boots.
const Init = "/sbin/init"
