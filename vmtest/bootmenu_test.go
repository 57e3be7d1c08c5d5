package vmtest

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBootMenu: initns as PID 1 with the console on VT1 (initns.console=
// tty1) and a countdown stored (initns default alpha --menu 120). At the
// machine's start the menu shows on VT1 and counts down; keys pressed on
// the guest's PS/2 keyboard (QEMU's sendkey) drive it: s opens the host
// shell on VT1 and the menu comes back when it exits; Down and Enter boot
// beta. Then, the machine's start done again (debug-start) with a 3 s
// countdown, the countdown boots alpha, and VT1 is given back in its
// cooked mode. One boot.
func TestBootMenu(t *testing.T) {
	t.Parallel()
	a := artifacts(t)
	initramfs := stateRoot(t, a, func(client func(args ...string), root string) {
		client("new", "alpha", "busybox.tar.gz")
		client("new", "beta", "busybox.tar.gz")
		client("default", "alpha", "--menu", "120")
	})
	vm := Boot(t, Options{Initramfs: initramfs, Cmdline: "initns.console=tty1", Tee: teeFor(t)})
	g := &guest{t: t, vm: vm}
	g.waitUp()
	g.waitVT(1, "Booting alpha in")
	if scr := g.vtScreen(1); !strings.Contains(scr, "> alpha (default)") || !strings.Contains(scr, "beta") {
		t.Errorf("the menu does not list the instances with the default selected:\n%s", scr)
	}

	t.Run("shell-key", func(t *testing.T) {
		g := g.with(t)
		g.sendkey("s")
		g.waitVT(1, "#")
		g.typeKeys("tty >/tmp/menushell\n")
		if !g.waitGuest("[ -s /tmp/menushell ]", 30*time.Second) {
			t.Fatalf("the command typed in the menu's shell did not run; VT1 shows:\n%s", g.vtScreen(1))
		}
		if out := g.sh("cat /tmp/menushell"); out != "/dev/tty1\n" {
			t.Errorf("the menu's shell runs on %q, want /dev/tty1", out)
		}
		g.typeKeys("exit\n")
		g.waitVT(1, "Up/Down: choose")
		if strings.Contains(g.vtScreen(1), "Booting alpha in") {
			t.Errorf("the countdown runs again after the shell:\n%s", g.vtScreen(1))
		}
	})
	t.Run("arrows-and-enter", func(t *testing.T) {
		g := g.with(t)
		g.sendkey("down")
		g.waitVT(1, "> beta")
		g.sendkey("ret")
		g.waitState("beta", "running")
		if why := g.lastBootWhy("beta"); why != "menu" {
			t.Errorf("beta booted for %q, want menu", why)
		}
		if st := g.instanceState("alpha"); st != "stopped" {
			t.Errorf("alpha is %s, want stopped", st)
		}
	})
	t.Run("countdown", func(t *testing.T) {
		g := g.with(t)
		g.sh("initns stop beta && initns default alpha --menu 3")
		g.debugStart()
		g.waitVT(1, "Booting alpha in")
		g.waitState("alpha", "running")
		if why := g.lastBootWhy("alpha"); why != "default" {
			t.Errorf("alpha booted for %q, want default (the countdown)", why)
		}
		// Given back cooked, as the kernel made it, before alpha's init
		// got it.
		if mode := g.sh("stty -F /dev/tty1 -a"); strings.Contains(mode, "-icanon") || strings.Contains(mode, "-echo ") {
			t.Errorf("VT1 after the menu is not in its cooked mode:\n%s", mode)
		}
	})
}

// TestBootFallback: the default instance's init exits at once. With
// initns.menu=0 (over a stored 120 s countdown) no menu shows; the
// instance is tried initns.tries=3 times, marked failed with the reason,
// and the fallback boots; the history names each try. Then, with no
// fallback, the machine's start (debug-start) shows the menu on the
// serial console ttyS1 (initns.console=ttyS1, QEMU's second serial port)
// naming the failure and counting down to nothing; keys typed there
// (arrows, Enter, as a terminal sends them) boot the fallback. One boot.
func TestBootFallback(t *testing.T) {
	t.Parallel()
	a := artifacts(t)
	initramfs := stateRoot(t, a, func(client func(args ...string), root string) {
		client("new", "broken", "busybox.tar.gz")
		client("new", "rescue", "busybox.tar.gz")
		init := filepath.Join(root, "rootfs/broken/sbin/init")
		os.Remove(init)
		if err := os.WriteFile(init, []byte("#!/bin/sh\necho broken: exiting\nexit 3\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		client("default", "broken", "--fallback", "rescue", "--menu", "120")
	})
	sock := filepath.Join(t.TempDir(), "ttyS1")
	vm := Boot(t, Options{Initramfs: initramfs, Cmdline: "initns.console=ttyS1 initns.menu=0 initns.tries=3", Serial2: sock, Tee: teeFor(t)})
	serial := dialSerial(t, sock)
	g := &guest{t: t, vm: vm}
	g.waitUp()
	g.waitState("rescue", "running")

	var tries []string
	for _, e := range g.history("broken") {
		tries = append(tries, e.Kind+" "+e.Why+e.How)
	}
	want := []string{"boot default", "end exited 3", "boot retry", "end exited 3", "boot retry", "end exited 3",
		"failed its init ended 3 times in a row within 30s of its boot; the last: exited 3"}
	if strings.Join(tries, "\n") != strings.Join(want, "\n") {
		t.Errorf("history of broken:\n%s\nwant\n%s", strings.Join(tries, "\n"), strings.Join(want, "\n"))
	}
	if why := g.lastBootWhy("rescue"); why != "fallback" {
		t.Errorf("rescue booted for %q, want fallback", why)
	}
	if st := g.sh("initns ls"); !strings.Contains(st, "stopped (exited 3) FAILED") {
		t.Errorf("ls does not show broken failed:\n%s", st)
	}
	if n := strings.TrimSpace(g.sh(`grep -c 'msg="boot menu"' ` + daemonLog + ` || true`)); n != "0" {
		t.Errorf("initns.menu=0: the daemon showed the menu (%s times)", n)
	}

	t.Run("serial-menu-names-the-failure", func(t *testing.T) {
		g := g.with(t)
		g.sh("initns stop rescue && initns default broken --fallback none")
		g.debugStart()
		serial.wait(t, "broken is marked failed: its init ended 3 times")
		serial.wait(t, "broken (default) FAILED")
		time.Sleep(3 * time.Second)
		if st := g.instanceState("broken"); st != "stopped" {
			t.Errorf("the failed default was booted unasked: %s", st)
		}
		if strings.Contains(serial.text(), "Booting broken in") {
			t.Error("the menu counts down to the failed default")
		}
		serial.write(t, "\x1b[B")
		serial.wait(t, "> rescue")
		serial.write(t, "\r")
		g.waitState("rescue", "running")
		if why := g.lastBootWhy("rescue"); why != "menu" {
			t.Errorf("rescue booted for %q, want menu", why)
		}
	})
}

// debugStart has the daemon do again what it does at the machine's start
// (a test-only request, in the compatibility mode: the client has none).
func (g *guest) debugStart() {
	g.t.Helper()
	if out := g.compat("debug-start"); out != "ok\n\n" {
		g.t.Fatalf("debug-start: %q", out)
	}
}

// waitVT waits until VT n shows s.
func (g *guest) waitVT(n int, s string) {
	g.t.Helper()
	if !g.waitGuest("grep -qF '"+s+"' /dev/vcs"+strconv.Itoa(n), 60*time.Second) {
		g.t.Fatalf("VT%d never showed %q; it shows:\n%s", n, s, g.vtScreen(n))
	}
}

// waitState waits until `initns ls` says name is in state.
func (g *guest) waitState(name, state string) {
	g.t.Helper()
	if !g.waitGuest("initns ls | grep -qE '^"+name+" +"+state+"'", 90*time.Second) {
		g.t.Fatalf("%s never became %s:\n%s\ndaemon log:\n%s", name, state, g.sh("initns ls"), g.logSince(0))
	}
}

// historyEvent is one event of `initns history --json`.
type historyEvent struct {
	Kind, Why, How string
	Quick          bool
}

func (g *guest) history(name string) []historyEvent {
	g.t.Helper()
	var out []historyEvent
	if err := json.Unmarshal([]byte(g.sh("initns history --json "+name)), &out); err != nil {
		g.t.Fatalf("initns history --json: %v", err)
	}
	return out
}

// lastBootWhy is who asked for name's last boot, from its history.
func (g *guest) lastBootWhy(name string) string {
	g.t.Helper()
	why := ""
	for _, e := range g.history(name) {
		if e.Kind == "boot" {
			why = e.Why
		}
	}
	return why
}

// serialPort is the guest's second serial port, as a terminal on it sees
// it: what the guest wrote, and keys to type.
type serialPort struct {
	conn net.Conn
	mu   sync.Mutex
	buf  bytes.Buffer
}

func dialSerial(t *testing.T, path string) *serialPort {
	t.Helper()
	var conn net.Conn
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if conn, err = net.Dial("unix", path); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("connect to the guest's ttyS1: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &serialPort{conn: conn}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := conn.Read(b)
			p.mu.Lock()
			p.buf.Write(b[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *serialPort) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

func (p *serialPort) wait(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(p.text(), s) {
			return
		}
	}
	t.Fatalf("ttyS1 never showed %q; it showed:\n%q", s, p.text())
}

func (p *serialPort) write(t *testing.T, keys string) {
	t.Helper()
	if _, err := p.conn.Write([]byte(keys)); err != nil {
		t.Fatal(err)
	}
}
