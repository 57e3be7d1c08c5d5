// Package initsys owns what initns knows about the init systems that
// instances run: which one an instance's /sbin/init is (detected from the
// file itself, read inside the instance's root), and how each is asked to
// power off, reboot or halt in its own language (a signal, a runlevel
// request on sysvinit's /run/initctl, or runit's stopit file and SIGCONT),
// systemd told first that its last step runs in a container, so that it
// leaves the machine's devices alone.
//
// The decisions (the table of inits, classifying a file, encoding an
// initctl request) are pure and build anywhere; opening files inside an
// instance's root and sending requests to a running init live in the
// _linux.go files.
package initsys
