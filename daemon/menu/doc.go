// Package menu is the boot menu the daemon shows on the console when it
// starts as PID 1: the instances with their image and how their last boot
// ended, a countdown to the default, arrows and Enter to boot another, a
// key for the host shell and one for an instance's last boot result.
//
// The menu itself (Menu) is pure: keys in, an Action out, and a screen
// rendered as ANSI text, so it works alike on a VT and on a serial
// console and is tested without a terminal. Keys are decoded from the
// terminal's bytes (Decoder), so no evdev is needed. Terminal (Linux) is
// the edge: raw mode on the console tty, restored exactly before an
// instance's init gets the console; Run drives a Menu on it.
package menu
