package console

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"initns/reaper"
	"initns/vt"
)

// holderEnv makes the test binary a display server stand-in: it holds the
// VT named by the variable in VT_PROCESS mode and agrees to every release,
// as X or a Wayland compositor does.
const holderEnv = "INITNS_CONSOLE_TEST_HOLD_VT"

// deafEnv makes the stand-in never answer, as a frozen or hung display
// server.
const deafEnv = "INITNS_CONSOLE_TEST_DEAF"

// reportEnv makes the stand-in print "release" or "acquire" after each
// answer.
const reportEnv = "INITNS_CONSOLE_TEST_REPORT"

// From linux/vt.h, for the stand-in only.
const (
	vtSetMode  = 0x5602
	vtRelDisp  = 0x5605
	vtProcess  = 1
	vtAckAcq   = 2
	vtAllowRel = 1
)

func init() {
	if n := os.Getenv(holderEnv); n != "" {
		os.Exit(holdVT(n))
	}
}

// holdVT is the stand-in's main: hold VT n, say "ready", answer forever.
func holdVT(n string) int {
	fd, err := unix.Open("/dev/tty"+n, unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	mode := [4]int16{vtProcess, int16(syscall.SIGUSR1), int16(syscall.SIGUSR2), 0}
	// struct vt_mode: char mode, char waitv, short relsig, acqsig, frsig;
	// mode 1 in the first byte, waitv 0 in the second (little-endian).
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), vtSetMode, uintptr(unsafe.Pointer(&mode))); errno != 0 {
		fmt.Println("VT_SETMODE:", errno)
		return 1
	}
	fmt.Println("ready")
	for sig := range sigs {
		if os.Getenv(deafEnv) != "" {
			continue
		}
		answer, what := vtAllowRel, "release"
		if sig == syscall.SIGUSR2 {
			answer, what = vtAckAcq, "acquire"
		}
		unix.IoctlSetInt(fd, vtRelDisp, answer)
		if os.Getenv(reportEnv) != "" {
			fmt.Println(what)
		}
	}
	return 0
}

// TestSwitchBeforeFreezeWhenHeld: when the VT in front is held by a
// process (a display server of the instance), the Manager switches while
// that process can still agree, and freezes after; frozen, it never could.
func TestSwitchBeforeFreezeWhenHeld(t *testing.T) {
	h := &fakeHost{name: "box"}
	m, home := newManager(t, h, Config{})
	startHolder(t, home, false)
	m.Chord()
	pid := assertOpen(t, m)
	if frontAt := h.front(); frontAt != shellVT {
		t.Errorf("VT in front during the freeze = %d, want %d (switched first)", frontAt, shellVT)
	}
	m.EndShell()
	assertEnded(t, m, pid, home)
}

// startHolder starts the stand-in on VT n; when the test ends it is
// killed and VT n given back to the kernel.
func startHolder(t *testing.T, n int, deaf bool) {
	t.Helper()
	startHolderReporting(t, n, deaf, false).Close()
}

// startHolderReporting is startHolder, and with report the stand-in says
// on the returned pipe what it answered.
func startHolderReporting(t *testing.T, n int, deaf, report bool) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	env := append(os.Environ(), holderEnv+"="+strconv.Itoa(n))
	if deaf {
		env = append(env, deafEnv+"=1")
	}
	if report {
		env = append(env, reportEnv+"=1")
	}
	pid, exit, err := reaper.Start("/proc/self/exe", []string{"holder"}, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{null.Fd(), w.Fd(), w.Fd()},
	})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	stop := func() {
		unix.Kill(pid, unix.SIGKILL)
		<-exit
		if term, err := vt.OpenVT(n); err == nil {
			term.SetSwitchMode(vt.SwitchMode{})
			term.Close()
		}
	}
	line, err := readLine(r)
	if line != "ready" {
		stop()
		r.Close()
		t.Fatalf("holder: %q %v", line, err)
	}
	t.Cleanup(stop)
	return r
}

// readLine reads one line byte by byte, so nothing after it is taken
// from r.
func readLine(r *os.File) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for {
		if _, err := r.Read(one); err != nil {
			return string(b), err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
}

// TestTakeFrontFromDeafHolder: the VT in front is held by a process that
// never answers (a display server frozen by `initns freeze`). The shell
// still shows: the Manager takes that VT after SwitchTimeout.
func TestTakeFrontFromDeafHolder(t *testing.T) {
	m, home := newManager(t, &fakeHost{name: "box"}, Config{SwitchTimeout: 300 * time.Millisecond})
	startHolder(t, home, true)
	m.Chord()
	pid := assertOpen(t, m)
	m.EndShell()
	assertEnded(t, m, pid, home)
}
