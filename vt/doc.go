// Package vt owns the Linux virtual terminals: which VT is in front
// (VT_GETSTATE), switching to another one and waiting until the switch has
// happened (VT_ACTIVATE, VT_WAITACTIVE), who decides about switches away
// from a VT (VT_SETMODE: VT_AUTO, or VT_PROCESS held by this process), the
// display mode (KDSETMODE text or graphics), the keyboard mode (KDSKBMODE,
// Unicode for a shell), making a VT the controlling terminal of a
// session (TIOCSCTTY), and what a VT shows (its cells, /dev/vcsaN), read
// and put back when `switch` moves the console, and the kernel's keymap
// entries of the daemon's Ctrl+Alt chords (KDSKBENT), silenced so that no
// program gets them. A VT that an instance's
// getty hangs up under an open Terminal is reached again through a
// descriptor opened afresh.
//
// Every ioctl goes through golang.org/x/sys/unix; the request numbers and
// structures that package does not define are copied, with their header,
// into ioctl_linux.go and keymap_linux.go.
package vt
