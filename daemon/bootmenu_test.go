package daemon_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"initns/internal/ptytest"
	"initns/proto"
)

// restart ends the daemon (not PID 1: SIGTERM stops the instance and ends
// it) and starts it again with extra flags.
func (e *env) restart(extra ...string) {
	e.t.Helper()
	e.daemon.Process.Signal(syscall.SIGTERM)
	<-e.exited
	e.start(extra...)
}

func (e *env) history(name string) []proto.Event {
	e.t.Helper()
	args := []string{"history", "--json"}
	if name != "" {
		args = append(args, name)
	}
	var out []proto.Event
	if err := json.Unmarshal([]byte(e.ok(args...)), &out); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// waitBootWhy waits until the history says who asked for the instance's
// last boot, and fails unless it is want. (The history is written beside
// the boot, not before it.)
func (e *env) waitBootWhy(name, want string) {
	e.t.Helper()
	why := ""
	e.waitFor(name+"'s boot in the history", func() bool {
		why = ""
		for _, ev := range e.history(name) {
			if ev.Kind == "boot" {
				why = ev.Why
			}
		}
		return why == want
	}, func() string { return "the last boot was asked by " + why })
}

// TestBootMenu drives the boot menu of a daemon started as at machine
// start (--boot) on a real pty: with nothing to boot it says what to do,
// and a client's run ends it with the terminal restored; the countdown
// shows, arrows and Enter boot the chosen instance; with no key the
// countdown boots the default; --menu 0 boots it at once.
func TestBootMenu(t *testing.T) {
	con := ptytest.NewScreen(t)
	before := con.Termios(t)
	e := newEnv(t)
	e.console = con.Slave
	e.start("--boot")
	con.WaitShown(t, "There is no instance to boot yet.")
	e.image("test.tar.gz", false, nil)
	e.ok("new", "alpha", "test.tar.gz")
	e.ok("new", "beta", "test.tar.gz")
	e.ok("run", "beta")
	e.waitReport("beta")
	if after := con.Termios(t); !reflect.DeepEqual(after, before) {
		t.Errorf("after run ended the menu, the console's mode is\n%+v\nwant as before\n%+v", after, before)
	}
	e.ok("stop", "beta")
	e.ok("default", "alpha", "--menu", "30")
	if got := e.ok("default"); got != "alpha\nmenu=30\n" {
		t.Errorf("initns default: %q", got)
	}

	t.Run("arrows-and-enter", func(t *testing.T) {
		e.restart("--boot")
		con.WaitShown(t, "Booting alpha in 30 s")
		if !strings.Contains(con.Since(), "> alpha (default)") {
			t.Errorf("the default is not selected:\n%s", con.Since())
		}
		con.Master.Write([]byte("\x1b[B"))
		con.WaitShown(t, "> beta")
		con.Master.Write([]byte("\r"))
		e.waitReport("beta")
		e.waitBootWhy("beta", "menu")
		if st := e.state("alpha").State; st != "stopped" {
			t.Errorf("alpha is %s", st)
		}
		e.ok("stop", "beta")
	})
	t.Run("countdown", func(t *testing.T) {
		e.restart("--boot", "--menu", "2")
		con.WaitShown(t, "Booting alpha in 2 s")
		e.waitReport("alpha")
		e.waitBootWhy("alpha", "default")
		if after := con.Termios(t); !reflect.DeepEqual(after, before) {
			t.Errorf("after the countdown the console's mode is\n%+v\nwant as before\n%+v", after, before)
		}
		e.ok("stop", "alpha")
	})
	t.Run("menu-0", func(t *testing.T) {
		con.Reset()
		e.restart("--boot", "--menu", "0")
		e.waitReport("alpha")
		if s := con.Since(); strings.Contains(s, "boot menu") {
			t.Errorf("--menu 0 showed the menu:\n%s", s)
		}
		e.ok("stop", "alpha")
	})
	t.Run("info-key", func(t *testing.T) {
		e.restart("--boot")
		con.WaitShown(t, "Booting alpha in 30 s")
		con.Master.Write([]byte("i"))
		con.WaitShown(t, "Last boots of alpha")
		con.WaitShown(t, "ended: stopped (exited 0)")
		e.ok("run", "alpha")
		e.waitReport("alpha")
	})
}

// TestFallback: the default instance's init exits at once; after --tries
// tries the daemon marks it failed with the reason and boots the
// fallback; the history names each try; ls shows the mark. Without a
// fallback the menu names the failure and boots nothing.
func TestFallback(t *testing.T) {
	con := ptytest.NewScreen(t)
	e := newEnv(t)
	e.console = con.Slave
	e.start("--tries", "2", "--fail-within", "10s")
	e.image("test.tar.gz", false, nil)
	e.image("broken.tar.gz", true, map[string]string{"sbin/init": "#!/bin/sh\nexit 3\n"})
	e.ok("new", "broken", "broken.tar.gz")
	os.Chmod(filepath.Join(e.rootfs("broken"), "sbin/init"), 0o755)
	e.ok("new", "rescue", "test.tar.gz")
	e.ok("default", "broken", "--fallback", "rescue")

	e.restart("--boot", "--tries", "2", "--fail-within", "10s")
	e.waitReport("rescue")
	e.waitBootWhy("rescue", "fallback")
	var kinds []string
	for _, ev := range e.history("broken") {
		kinds = append(kinds, ev.Kind+":"+ev.Why+ev.How)
		if ev.Kind == "end" && (!ev.Quick || ev.How != "exited 3") {
			t.Errorf("end %+v: want exited 3, too soon", ev)
		}
	}
	want := []string{"boot:default", "end:exited 3", "boot:retry", "end:exited 3", "failed:its init ended 2 times in a row within 10s of its boot; the last: exited 3"}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("history of broken:\n%q\nwant\n%q", kinds, want)
	}
	if st := e.state("broken"); !strings.Contains(st.Failed, "ended 2 times") || st.Ended != "exited 3" {
		t.Errorf("ls: broken failed %q ended %q", st.Failed, st.Ended)
	}
	if out := e.ok("ls"); !strings.Contains(out, "stopped (exited 3) FAILED") {
		t.Errorf("ls does not show the failure:\n%s", out)
	}

	e.ok("stop", "rescue")
	e.ok("default", "broken", "--fallback", "none")
	e.restart("--boot", "--tries", "2", "--fail-within", "10s")
	con.WaitShown(t, "broken is marked failed: its init ended 2 times")
	con.WaitShown(t, "broken (default) FAILED")
	time.Sleep(1500 * time.Millisecond)
	if n := len(e.history("broken")); n != len(want) {
		t.Errorf("the failed default was booted again unasked: %d events, want %d", n, len(want))
	}
	if strings.Contains(con.Since(), "Booting broken in") {
		t.Errorf("the menu counts down to the failed default:\n%s", con.Since())
	}
	// The person asks for broken all the same: it ends at once, and the
	// menu comes back saying so.
	con.Master.Write([]byte("\r"))
	con.WaitShown(t, "broken ended too soon after its boot: exited 3.")
	e.waitBootWhy("broken", "menu")
	con.Master.Write([]byte("\x1b[B\r"))
	e.waitReport("rescue")
	e.waitBootWhy("rescue", "menu")
}

// TestBootSettingsAndHistoryCommands: default's settings all or nothing,
// with errors that say what to do; history as text and JSON; ls shows
// how the last boot ended from the history after a daemon restart.
func TestBootSettingsAndHistoryCommands(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, nil)
	e.ok("new", "box", "test.tar.gz")
	e.ok("new", "spare", "test.tar.gz")
	e.refused(2, "say the countdown in seconds", "default", "box", "--menu", "soon")
	e.refused(2, "say the countdown in seconds", "default", "box", "--menu", "100000")
	e.refused(1, "does not exist", "default", "box", "--fallback", "nosuch")
	e.refused(2, "initns default [NAME | --clear] [--fallback NAME|none] [--menu SECONDS]", "default", "box", "spare")
	if got := e.compat("default box colour=blue\ndefault box menu=-2\n", 2); got != "syntax\n\nsyntax\n\n" {
		t.Errorf("compatibility mode, bad default words: %q, want syntax twice", got)
	}
	if got := e.ok("default"); got != "" {
		t.Errorf("a refused default changed the settings: %q", got)
	}
	e.ok("default", "box", "--fallback", "spare", "--menu", "5")
	if got := e.ok("default"); got != "box\nfallback=spare\nmenu=5\n" {
		t.Errorf("initns default: %q", got)
	}
	e.ok("default", "--fallback", "none")
	if got := e.ok("default"); got != "box\nmenu=5\n" {
		t.Errorf("after --fallback none: %q", got)
	}
	e.ok("default", "--clear")
	if got := e.ok("default"); got != "menu=5\n" {
		t.Errorf("after --clear: %q, want the countdown kept", got)
	}

	e.ok("run", "box")
	e.waitReport("box")
	e.ok("stop", "box")
	e.restart()
	if st := e.state("box"); st.Ended != "stopped (exited 0)" {
		t.Errorf("ls after a restart: box ended %q, want it from the history", st.Ended)
	}
	out := e.ok("history", "box")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[1], "boot   asked by run") ||
		!strings.Contains(lines[2], "end    stopped (exited 0), after ") {
		t.Errorf("initns history box:\n%s", out)
	}
	if all := e.history(""); len(all) != 2 {
		t.Errorf("history of every instance: %d events, want 2", len(all))
	}
	e.refused(2, "invalid name", "history", "../x")
	e.ok("rm", "spare")
	if ev := e.history("spare"); len(ev) != 1 || ev[0].Kind != "removed" {
		t.Errorf("history of a removed instance: %+v", ev)
	}
}
