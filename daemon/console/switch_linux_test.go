package console

import (
	"bytes"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"initns/vt"
)

// The VTs of the switch tests: instance a's and instance b's.
const vtA, vtB = 60, 61

// switchVTs makes VTs a and b exist in text mode with a Unicode keyboard,
// and puts them back so when the test ends.
func switchVTs(t *testing.T) {
	t.Helper()
	reset := func() {
		for _, n := range []int{vtA, vtB} {
			if term, err := vt.OpenVT(n); err == nil {
				term.SetSwitchMode(vt.SwitchMode{})
				term.SetText()
				term.SetKeyboardMode(vt.KeyboardUnicode)
				term.Close()
			}
		}
	}
	reset()
	t.Cleanup(reset)
}

// frontVT opens VT n, brings it to front and returns it, closed when
// the test ends.
func frontVT(t *testing.T, n int) *vt.Terminal {
	t.Helper()
	term, err := vt.OpenVT(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	if err := term.Activate(n, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return term
}

// expectLine waits for the holder to say want.
func expectLine(t *testing.T, r *os.File, want string) {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := readLine(r); line != want {
		t.Fatalf("the display server stand-in said %q (%v), want %q", line, err, want)
	}
}

func vtModes(t *testing.T, n int) (vt.KeyboardMode, bool) {
	t.Helper()
	term, err := vt.OpenVT(n)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	kb, err := term.KeyboardMode()
	if err != nil {
		t.Fatal(err)
	}
	g, err := term.Graphics()
	if err != nil {
		t.Fatal(err)
	}
	return kb, g
}

// TestSwitchMovesTheConsole: a display server (the stand-in, holding VT a
// in VT_PROCESS mode, graphics, keyboard off, as X does) releases its VT
// when its instance is left and reacquires it when the instance arrives
// again; instance b's text VT gets back its characters, cursor and
// keyboard mode after something else wrote there and changed the mode.
func TestSwitchMovesTheConsole(t *testing.T) {
	switchVTs(t)
	m, _ := newManager(t, &fakeHost{}, Config{ReleaseTimeout: 2 * time.Second})
	events := startHolderReporting(t, vtA, false, true)
	defer events.Close()
	termA := frontVT(t, vtA)
	expectLine(t, events, "acquire")
	if err := termA.SetKeyboardMode(vt.KeyboardOff); err != nil {
		t.Fatal(err)
	}
	if err := termA.SetGraphics(); err != nil {
		t.Fatal(err)
	}

	// b's VT shows what its getty wrote.
	os.WriteFile(vt.Path(vtB), []byte("\033c\033[1;1Hinstance b was here"), 0)
	sA := m.Leave("a", &Screen{VT: vtB})
	expectLine(t, events, "release")
	if got := activeVT(); got != vtB {
		t.Fatalf("after leaving a, VT %d is in front, want b's %d", got, vtB)
	}
	if sA == nil || sA.VT != vtA || !sA.Graphics || !sA.Held || sA.Keyboard != vt.KeyboardOff {
		t.Fatalf("a's screen recorded as %+v, want VT %d, graphics, held, keyboard off", sA, vtA)
	}

	sB := m.Leave("b", sA)
	if sB == nil || sB.VT != vtB || sB.Graphics || !bytes.Contains(sB.Cells, []byte("i\x07n\x07s")) {
		t.Fatalf("b's screen recorded as VT %d graphics %v, cells without its text", sB.VT, sB.Graphics)
	}
	if got := activeVT(); got != vtB {
		t.Fatalf("leaving b, whose VT nobody holds, switched to VT %d already", got)
	}
	// Meanwhile another system used VT b: other text, another keyboard.
	os.WriteFile(vt.Path(vtB), []byte("\033c\033[5;5Hsomething else"), 0)
	termB, err := vt.OpenVT(vtB)
	if err != nil {
		t.Fatal(err)
	}
	defer termB.Close()
	termB.SetKeyboardMode(vt.KeyboardXlate)

	m.Arrive("a", sA)
	expectLine(t, events, "acquire")
	if got := activeVT(); got != vtA {
		t.Fatalf("after a arrived, VT %d is in front, want %d", got, vtA)
	}
	if kb, g := vtModes(t, vtA); kb != vt.KeyboardOff || !g {
		t.Fatalf("a's VT: keyboard %d graphics %v, want off and graphics", kb, g)
	}

	m.Leave("a", sB)
	expectLine(t, events, "release")
	m.Arrive("b", sB)
	if got := activeVT(); got != vtB {
		t.Fatalf("after b arrived, VT %d is in front, want %d", got, vtB)
	}
	if kb, g := vtModes(t, vtB); kb != vt.KeyboardUnicode || g {
		t.Fatalf("b's VT: keyboard %d graphics %v, want Unicode and text", kb, g)
	}
	cells, err := vt.Cells(vtB)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cells, sB.Cells) {
		t.Fatalf("b's VT does not show what it showed when b left (cursor %v, want %v)", cells[2:4], sB.Cells[2:4])
	}
}

// TestSwitchAwayFromDeafDisplayServer: a display server that never
// answers the release (hung) does not hold up the switch beyond
// ReleaseTimeout: its VT is taken and the console moves.
func TestSwitchAwayFromDeafDisplayServer(t *testing.T) {
	switchVTs(t)
	m, _ := newManager(t, &fakeHost{}, Config{ReleaseTimeout: 300 * time.Millisecond})
	startHolder(t, vtA, true)
	termA, err := vt.OpenVT(vtA)
	if err != nil {
		t.Fatal(err)
	}
	defer termA.Close()
	termA.Activate(vtA, 5*time.Second)
	start := time.Now()
	s := m.Leave("a", &Screen{VT: vtB})
	took := time.Since(start)
	if got := activeVT(); got != vtB {
		t.Fatalf("VT %d in front after leaving a deaf display server, want %d", got, vtB)
	}
	if s == nil || !s.Held || took > 5*time.Second {
		t.Fatalf("screen %+v, took %v", s, took)
	}
	mode, err := termA.SwitchMode()
	if err != nil || mode.Process {
		t.Fatalf("a's VT still held (%+v, %v): not taken", mode, err)
	}
	t.Logf("left a deaf display server in %v (release timeout 300ms)", took)
}

// TestSwitchWithTheShellOpen: with the host shell in front, Leave moves
// nothing, and the shell's end brings the arriving instance's VT to front
// instead of the home VT.
func TestSwitchWithTheShellOpen(t *testing.T) {
	switchVTs(t)
	m, home := newManager(t, &fakeHost{name: "a"}, Config{})
	m.Chord()
	pid := assertOpen(t, m)
	s := m.Leave("a", &Screen{VT: vtB})
	if s == nil || s.VT != home || activeVT() != shellVT {
		t.Fatalf("Leave with the shell open: %+v, VT %d in front", s, activeVT())
	}
	m.Arrive("b", &Screen{VT: vtB, Keyboard: vt.KeyboardUnicode})
	if activeVT() != shellVT {
		t.Fatalf("Arrive took the console from the shell: VT %d", activeVT())
	}
	m.EndShell()
	assertEnded(t, m, pid, vtB)
}

// TestArriveKeepsTypedAhead: keys typed for an instance and not yet read
// when it left are still there to read when it arrives again (a keyboard
// mode set anew would flush them); keys another instance left on a VT
// they share are not (a half-typed password must not reach another
// system); a keyboard mode another system changed meanwhile is put back.
func TestArriveKeepsTypedAhead(t *testing.T) {
	switchVTs(t)
	m, _ := newManager(t, &fakeHost{}, Config{})
	termB := frontVT(t, vtB)
	fd, err := unix.Open(vt.Path(vtB), unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	queued := func() int {
		n, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	typeOn(t, fd, "make install\n")
	sB := m.Leave("b", &Screen{VT: vtA})
	if sB == nil || sB.VT != vtB {
		t.Fatalf("b left as %+v, want VT %d", sB, vtB)
	}
	m.Arrive("b", sB)
	if n := queued(); n != len("make install\n") {
		t.Fatalf("after b arrived, %d bytes wait on its VT, want the %d typed ahead", n, len("make install\n"))
	}

	// b leaves again, a password half typed for it; c, on the same VT,
	// arrives.
	termB.FlushInput()
	typeOn(t, fd, "hunter2\n")
	m.Leave("b", &Screen{VT: vtB})
	m.Arrive("c", &Screen{VT: vtB, Keyboard: vt.KeyboardUnicode})
	if n := queued(); n != 0 {
		t.Fatalf("after c arrived on b's VT, %d bytes b's user typed wait for c", n)
	}

	termB.SetKeyboardMode(vt.KeyboardXlate)
	m.Arrive("c", &Screen{VT: vtB, Keyboard: vt.KeyboardUnicode})
	if kb, _ := vtModes(t, vtB); kb != vt.KeyboardUnicode {
		t.Fatalf("c's VT: keyboard %d, want Unicode put back", kb)
	}
}

// TestArriveFromGraphicsVT: the kernel ignores a switch away from a VT
// in graphics mode that nobody holds (a framebuffer program of the
// departing system); Arrive puts it in text mode so the switch happens.
func TestArriveFromGraphicsVT(t *testing.T) {
	switchVTs(t)
	m, _ := newManager(t, &fakeHost{}, Config{SwitchTimeout: 2 * time.Second})
	termB, err := vt.OpenVT(vtB)
	if err != nil {
		t.Fatal(err)
	}
	defer termB.Close()
	if err := termB.Activate(vtB, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	termB.SetGraphics()
	defer termB.SetText() // before the cleanups switch back home
	sB := m.Leave("b", &Screen{VT: vtA})
	if sB == nil || !sB.Graphics {
		t.Fatalf("b's screen recorded as %+v, want graphics", sB)
	}
	m.Arrive("a", &Screen{VT: vtA, Keyboard: vt.KeyboardUnicode})
	if got := activeVT(); got != vtA {
		t.Fatalf("VT %d in front after a arrived from a graphics VT, want %d", got, vtA)
	}
	m.Arrive("b", sB)
	if _, g := vtModes(t, vtB); !g || activeVT() != vtB {
		t.Fatalf("b came back on VT %d, graphics %v; want its VT in graphics mode", activeVT(), g)
	}
}
