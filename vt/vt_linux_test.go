package vt

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"initns/vt/vttest"
)

// testVT is the VT the tests switch to; it is the one initns's host shell
// uses, and exists on the development machines.
const testVT = 63

// childEnv makes the test binary act as a child process for
// TestSetControlling.
const childEnv = "INITNS_VT_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "ctty" {
		os.Exit(controllingChild())
	}
	if err := vttest.Lock(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// openVT opens VT n and restores, when the test ends, the VT in front and
// VT n's switch, display and keyboard modes as they were.
func openVT(t *testing.T, n int) *Terminal {
	t.Helper()
	term, err := OpenVT(n)
	if err != nil {
		t.Fatal(err)
	}
	active, err := term.Active()
	if err != nil {
		t.Fatal(err)
	}
	mode, err := term.SwitchMode()
	if err != nil {
		t.Fatal(err)
	}
	graphics, err := term.Graphics()
	if err != nil {
		t.Fatal(err)
	}
	kb, err := term.KeyboardMode()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		restore(t, term, active, mode, graphics, kb)
	})
	return term
}

func restore(t *testing.T, term *Terminal, active int, mode SwitchMode, graphics bool, kb KeyboardMode) {
	if err := term.SetSwitchMode(SwitchMode{}); err != nil {
		t.Error(err)
	}
	if err := term.Activate(active, 5*time.Second); err != nil {
		t.Errorf("restore the active VT: %v", err)
	}
	setDisplay := term.SetText
	if graphics {
		setDisplay = term.SetGraphics
	}
	for _, err := range []error{setDisplay(), term.SetKeyboardMode(kb)} {
		if err != nil {
			t.Error(err)
		}
	}
	if mode.Process {
		t.Errorf("VT %s was held in VT_PROCESS mode by another process before the test; left in VT_AUTO", term.path)
	}
	term.Close()
}

func TestActivate(t *testing.T) {
	term := openVT(t, testVT)
	before, _ := term.Active()
	if err := term.Activate(testVT, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	assertActive(t, term, testVT)
	if err := term.Activate(before, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	assertActive(t, term, before)
	if before == testVT {
		t.Fatalf("VT %d was already in front; the test proves nothing", testVT)
	}
}

// TestActiveThroughTty0 checks that /dev/tty0, the current console, sees
// the same VT in front as the VT's own device.
func TestActiveThroughTty0(t *testing.T) {
	term := openVT(t, testVT)
	if err := term.Activate(testVT, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	tty0, err := Open("/dev/tty0")
	if err != nil {
		t.Fatal(err)
	}
	defer tty0.Close()
	assertActive(t, tty0, testVT)
}

func assertActive(t *testing.T, term *Terminal, want int) {
	t.Helper()
	got, err := term.Active()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("active VT = %d, want %d", got, want)
	}
	sysfs, err := os.ReadFile("/sys/class/tty/tty0/active")
	if err == nil && strings.TrimSpace(string(sysfs)) != fmt.Sprintf("tty%d", want) {
		t.Fatalf("/sys/class/tty/tty0/active = %q, want tty%d", sysfs, want)
	}
}

func TestActivateMissingVT(t *testing.T) {
	term := openVT(t, testVT)
	err := term.Activate(64, time.Second)
	if !errors.Is(err, unix.ENXIO) {
		t.Fatalf("Activate(64) = %v, want ENXIO", err)
	}
}

func TestSwitchModeRoundTrip(t *testing.T) {
	term := openVT(t, testVT)
	want := SwitchMode{Process: true, Release: releaseSignal, Acquire: acquireSignal}
	if err := term.SetSwitchMode(want); err != nil {
		t.Fatal(err)
	}
	got, err := term.SwitchMode()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("SwitchMode = %+v, want %+v", got, want)
	}
	if err := term.SetSwitchMode(SwitchMode{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := term.SwitchMode(); got.Process {
		t.Fatalf("SwitchMode after VT_AUTO = %+v", got)
	}
}

func TestDisplayAndKeyboardMode(t *testing.T) {
	term := openVT(t, testVT)
	if err := term.SetGraphics(); err != nil {
		t.Fatal(err)
	}
	if g, err := term.Graphics(); err != nil || !g {
		t.Fatalf("Graphics() = %v, %v after KD_GRAPHICS", g, err)
	}
	if err := term.SetText(); err != nil {
		t.Fatal(err)
	}
	if g, err := term.Graphics(); err != nil || g {
		t.Fatalf("Graphics() = %v, %v after KD_TEXT", g, err)
	}
	for _, m := range []KeyboardMode{KeyboardXlate, KeyboardUnicode} {
		if err := term.SetKeyboardMode(m); err != nil {
			t.Fatal(err)
		}
		if got, err := term.KeyboardMode(); err != nil || got != m {
			t.Fatalf("KeyboardMode() = %v, %v, want %v", got, err, m)
		}
	}
}

// TestHoldRefusesSwitch proves the VT_PROCESS policy: while held, a switch
// away requested through another descriptor does not happen; after Release
// it does.
func TestHoldRefusesSwitch(t *testing.T) {
	term := openVT(t, testVT)
	home, _ := term.Active()
	if err := term.Activate(testVT, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	refused := make(chan struct{}, 4)
	h, err := term.Hold(func() { refused <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open("/dev/tty0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	err = other.Activate(home, 500*time.Millisecond)
	if !errors.Is(err, ErrSwitchTimeout) {
		t.Errorf("switch away while held: %v, want ErrSwitchTimeout", err)
	}
	select {
	case <-refused:
	case <-time.After(5 * time.Second):
		t.Error("the holder never refused the release request")
	}
	assertActive(t, term, testVT)
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if err := other.Activate(home, 5*time.Second); err != nil {
		t.Fatalf("switch after Release: %v", err)
	}
	assertActive(t, term, home)
}

// TestHoldAcquire checks that a held VT coming to front (the kernel sends
// the acquire signal) is acknowledged and the switch completes.
func TestHoldAcquire(t *testing.T) {
	term := openVT(t, testVT)
	h, err := term.Hold(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	if _, err := term.Hold(nil); !errors.Is(err, ErrHeld) {
		t.Errorf("second Hold: %v, want ErrHeld", err)
	}
	if err := term.Activate(testVT, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	assertActive(t, term, testVT)
	if m, _ := term.SwitchMode(); !m.Process {
		t.Fatalf("SwitchMode after Hold = %+v, want VT_PROCESS", m)
	}
}

// TestSetControlling starts the test binary in a new session, where it
// makes VT 63 its controlling terminal and reports tty_nr from
// /proc/self/stat.
func TestSetControlling(t *testing.T) {
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=ctty")
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	nr, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("child said %q", out)
	}
	if want := int(unix.Mkdev(4, testVT)); nr != want {
		t.Fatalf("tty_nr = %#x, want %#x (4:%d)", nr, want, testVT)
	}
}

func controllingChild() int {
	term, err := OpenVT(testVT)
	if err == nil {
		err = term.SetControlling(true)
	}
	if err != nil {
		fmt.Println(err)
		return 1
	}
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	fmt.Println(fields[4]) // tty_nr, the 7th field of proc(5)
	return 0
}

func TestSetSane(t *testing.T) {
	term := openVT(t, testVT)
	saved, err := unix.IoctlGetTermios(term.Fd(), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.IoctlSetTermios(term.Fd(), unix.TCSETS, saved)
	raw := *saved
	raw.Lflag &^= unix.ECHO | unix.ICANON | unix.ISIG
	raw.Iflag &^= unix.ICRNL
	if err := unix.IoctlSetTermios(term.Fd(), unix.TCSETS, &raw); err != nil {
		t.Fatal(err)
	}
	if err := term.SetSane(); err != nil {
		t.Fatal(err)
	}
	got, err := unix.IoctlGetTermios(term.Fd(), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	const lflag = unix.ECHO | unix.ICANON | unix.ISIG
	if got.Lflag&lflag != lflag || got.Iflag&(unix.ICRNL|unix.IUTF8) != unix.ICRNL|unix.IUTF8 {
		t.Fatalf("after SetSane: lflag %#o iflag %#o", got.Lflag, got.Iflag)
	}
}

// TestHangup hangs up a VT that two descriptors hold open, as an
// instance's getty does with vhangup(2): the kernel then answers EIO on
// both, yet a Terminal opened before the hangup still reads and switches
// its VT (the switch that once failed with "VT_ACTIVATE 1 on /dev/tty1:
// input/output error" in TestSwitch).
func TestHangup(t *testing.T) {
	term := openVT(t, testVT)
	before, err := term.Active()
	if err != nil {
		t.Fatal(err)
	}
	hanger, err := OpenVT(testVT)
	if err != nil {
		t.Fatal(err)
	}
	defer hanger.Close()
	if err := hanger.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.IoctlGetInt(term.Fd(), kdGKBMode); !errors.Is(err, unix.EIO) {
		t.Fatalf("KDGKBMODE on the hung-up descriptor: %v, want EIO", err)
	}
	if _, err := term.KeyboardMode(); err != nil {
		t.Fatalf("KeyboardMode after hangup: %v", err)
	}
	if _, err := term.SwitchMode(); err != nil {
		t.Fatalf("SwitchMode after hangup: %v", err)
	}
	if err := term.Activate(testVT, 5*time.Second); err != nil {
		t.Fatalf("Activate after hangup: %v", err)
	}
	assertActive(t, term, testVT)
	if err := term.Activate(before, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	assertActive(t, term, before)
}

// TestSilenceCtrlAlt: Ctrl+Alt+PgDn and Ctrl+Alt+J, which the kernel's
// keymap turns into PgDn and into Escape and Linefeed, do nothing once
// silenced, however the chord is held; the keys alone and with Ctrl only
// keep their meaning; Restore puts every entry back, but not over an
// entry a keymap loaded meanwhile set. The machine's own keymap, put back
// as it was when the test ends.
func TestSilenceCtrlAlt(t *testing.T) {
	term := openVT(t, testVT)
	keys := []uint16{109, 36} // KEY_PAGEDOWN, KEY_J
	type slot struct{ table, key uint8 }
	var slots []slot
	for _, k := range keys {
		for _, table := range append(ctrlAltTables(), 0, kgCtrl, kgAlt) {
			slots = append(slots, slot{table, uint8(k)})
		}
	}
	read := func() map[slot]uint16 {
		m := map[slot]uint16{}
		for _, s := range slots {
			v, err := term.Keymap(s.table, s.key)
			if err != nil {
				t.Fatal(err)
			}
			m[s] = v
		}
		return m
	}
	before := read()
	orig := before
	t.Cleanup(func() {
		now := read()
		for s, v := range orig {
			// Only what changed: setting an entry of a table the
			// keymap lacks would make the kernel allocate the table.
			if now[s] != v {
				term.SetKeymap(s.table, s.key, v)
			}
		}
	})
	if before[slot{kgCtrl | kgAlt, 109}] == KeyNothing {
		// Give the test something to silence on a machine whose keymap
		// already has none.
		if err := term.SetKeymap(kgCtrl|kgAlt, 109, 0x0119); err != nil { // Next
			t.Fatal(err)
		}
		before = read()
	}
	if term.CtrlAltSilent(keys...) {
		t.Fatal("CtrlAltSilent before SilenceCtrlAlt")
	}

	changed, err := term.SilenceCtrlAlt(keys...)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) == 0 {
		t.Fatal("nothing changed")
	}
	// Either Control (KG_CTRL, KG_CTRLL, KG_CTRLR) with Alt, AltGr or
	// both, with or without Shift.
	want := []uint8{12, 13, 6, 7, 14, 15, 72, 73, 66, 67, 74, 75, 136, 137, 130, 131, 138, 139}
	if got := ctrlAltTables(); !slices.Equal(got, want) {
		t.Fatalf("ctrlAltTables() = %v, want %v", got, want)
	}
	after := read()
	for _, table := range want {
		for _, k := range keys {
			if v := after[slot{table, uint8(k)}]; v != KeyNothing {
				t.Errorf("table %d key %d: %#x after SilenceCtrlAlt", table, k, v)
			}
		}
	}
	for _, table := range []uint8{0, kgCtrl, kgAlt} {
		for _, k := range keys {
			if s := (slot{table, uint8(k)}); after[s] != before[s] {
				t.Errorf("table %d key %d changed: %#x, was %#x", table, k, after[s], before[s])
			}
		}
	}
	if !term.CtrlAltSilent(keys...) {
		t.Error("CtrlAltSilent after SilenceCtrlAlt")
	}

	// A keymap loaded meanwhile sets Ctrl+Alt+J to something else.
	if err := term.SetKeymap(kgCtrl|kgAlt, 36, 0x0b6a); err != nil {
		t.Fatal(err)
	}
	if err := term.Restore(changed); err != nil {
		t.Fatal(err)
	}
	got := read()
	for s, v := range before {
		want := v
		if s == (slot{kgCtrl | kgAlt, 36}) {
			want = 0x0b6a
		}
		if got[s] != want {
			t.Errorf("table %d key %d: %#x after Restore, want %#x", s.table, s.key, got[s], want)
		}
	}
}
