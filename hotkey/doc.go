// Package hotkey owns the keyboards: it finds every keyboard among the
// evdev devices of a directory (/dev/input), follows keyboards that are
// plugged in or removed later, and reports the host chord, Ctrl+Alt+J
// (either Ctrl, either Alt, the keys may be pressed on different
// keyboards), and the cycling chords of `switch` (Ctrl+Alt+PgDn and
// Ctrl+Alt+PgUp by default; ParseChord reads others).
//
// The chord itself is pure code: Chord is fed the events of struct
// input_event records (decoded by Decoder from any io.Reader) and says when
// to fire, so it is tested on recorded event streams without a kernel.
// Watch is the thin Linux edge: one goroutine, one epoll set holding an
// inotify descriptor and every keyboard, and no timeout, so it costs no CPU
// while no key is pressed. It reads passively and never grabs a device: the
// instance in front keeps getting every key.
package hotkey
