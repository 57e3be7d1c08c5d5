package vmtest

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestConsole proves SPEC §7 on a real guest, initns being PID 1: QEMU's
// PS/2 keyboard is an evdev device there, and Ctrl+Alt+J sent through the
// monitor freezes the running instance, puts VT63 in front and starts a
// shell there in a session of its own; keys typed on the keyboard reach
// that shell; `initns run` of the frozen instance, or `exit` typed in the
// shell, ends the shell's whole session, thaws the instance and gives VT1
// back. With no instance the chord still opens the shell. One boot serves
// every case, in order.
func TestConsole(t *testing.T) {
	t.Parallel()
	g := bootGuest(t, "", false)
	off := g.vm.Console.Offset()
	g.sh("initns new box busybox.tar.gz && initns run box")
	g.expect(off, "testinit: up 1", "the instance did not boot", 60*time.Second)
	if !g.waitLog(0, `msg="keyboard added"`, 30*time.Second) {
		t.Fatalf("the daemon never watched a keyboard; its log:\n%s", g.logSince(0))
	}
	if vt := g.activeVT(); vt != homeVT {
		t.Fatalf("VT in front before the chord: %q, want %s", vt, homeVT)
	}
	t.Run("chord-then-run", func(t *testing.T) { checkChordThenRun(g.with(t)) })
	t.Run("chord-then-exit", func(t *testing.T) { checkChordThenExit(g.with(t)) })
	t.Run("run-typed-in-shell", func(t *testing.T) { checkRunTypedInShell(g.with(t)) })
	t.Run("chord-no-instance", func(t *testing.T) { checkChordNoInstance(g.with(t)) })
	t.Run("chord-no-instance-then-run", func(t *testing.T) { checkChordNoInstanceThenRun(g.with(t)) })
	t.Run("keyboard-replugged", func(t *testing.T) { checkKeyboardReplugged(g.with(t)) })
	// Every transition above went as planned: nothing the daemon had to
	// log as an error, nor a console warning (a session that would not end,
	// a VT that would not switch, a thaw that failed).
	if out := g.sh("grep -E 'level=ERROR|level=WARN msg=\"console:' " + daemonLog + " || true"); out != "" {
		t.Errorf("the daemon logged errors or warnings:\n%s", out)
	}
}

// checkChordThenRun: the chord freezes box and opens the shell on VT63; a
// command typed on the keyboard runs in that shell; the chord again keeps
// VT63 and the same shell; Alt+F1 cannot leave VT63 while the shell lives
// (VT_PROCESS); `initns run box` thaws box, ends the shell's whole session
// (a stopped job and a job that ignores the hangup included) and shows VT1.
func checkChordThenRun(g *guest) {
	g.chord("box", 1)
	g.checkFrozen("box", true)
	sh := g.shellOnVT63()
	if env := g.sh(fmt.Sprintf("tr '\\0' '\\n' </proc/%d/environ", sh.pid)); !regexp.MustCompile(`(?m)^HOME=/root$`).MatchString(env) {
		g.t.Errorf("the host shell's environment has no HOME=/root:\n%s", env)
	}
	g.screenHas("Instance box is frozen.")

	g.typeKeys("tty >/tmp/fromvt63\n")
	if !g.waitGuest("[ -s /tmp/fromvt63 ]", 30*time.Second) {
		g.t.Fatalf("the command typed on the keyboard did not run; VT63 shows:\n%s", g.screen())
	}
	if out := g.sh("cat /tmp/fromvt63"); out != "/dev/tty63\n" {
		g.t.Errorf("tty in the shell typed on the keyboard says %q, want /dev/tty63", out)
	}
	g.checkChordAgain(sh)
	g.checkSwitchRefused()
	g.startJobs(sh)

	start := time.Now()
	g.sh("initns run box")
	g.t.Logf("console: initns run of the frozen instance, its shell's session of 3 ending: %v (host clock)", time.Since(start).Round(time.Millisecond))
	g.checkFrozen("box", false)
	if vt := g.activeVT(); vt != homeVT {
		g.t.Errorf("after initns run of the frozen instance, %s is in front, want %s", vt, homeVT)
	}
	g.shellGone(sh.pid)
}

// checkChordAgain: the chord while the shell lives keeps VT63 and the same
// shell, and box frozen.
func (g *guest) checkChordAgain(sh proc) {
	g.t.Helper()
	n := g.logLines()
	g.sendkey("ctrl-alt-j")
	if !g.waitLog(n, `chord with the host shell alive`, 20*time.Second) {
		g.t.Errorf("the chord again while the shell lives was not taken as such; daemon log:\n%s", g.logSince(n))
	}
	if vt := g.activeVT(); vt != shellVT {
		g.t.Errorf("after the chord again, %s is in front, want %s", vt, shellVT)
	}
	if again := g.shellOnVT63(); again.pid != sh.pid {
		g.t.Errorf("after the chord again the shell on tty63 is %v, want the same shell %v", again, sh)
	}
	g.checkFrozen("box", true)
}

// checkSwitchRefused: Alt+F1 cannot leave VT63 while the shell lives.
func (g *guest) checkSwitchRefused() {
	g.t.Helper()
	n := g.logLines()
	g.sendkey("alt-f1")
	if !g.waitLog(n, `refused a switch away from the host shell`, 20*time.Second) {
		g.t.Errorf("Alt+F1 while the shell lives: no refusal in the daemon log:\n%s", g.logSince(n))
	}
	if vt := g.activeVT(); vt != shellVT {
		g.t.Errorf("after Alt+F1 while the shell lives, %s is in front, want %s (held in VT_PROCESS mode)", vt, shellVT)
	}
}

// startJobs types two jobs into the shell, which its end must not leave
// behind: a stopped one (Ctrl+Z: it needs SIGCONT to see the hangup) and a
// background one that ignores SIGHUP (it needs SIGKILL).
func (g *guest) startJobs(sh proc) {
	g.t.Helper()
	g.typeKeys("tail -f /dev/null\n")
	g.waitMember(sh.pid, "tail", "", 30*time.Second)
	g.sendkey("ctrl-z")
	tail := g.waitMember(sh.pid, "tail", "T", 30*time.Second)
	g.typeKeys(`sh -c "trap '' 1; exec sleep 1000" &` + "\n")
	sleep := g.waitMember(sh.pid, "sleep", "", 30*time.Second)
	ign := g.sh(fmt.Sprintf("grep SigIgn /proc/%d/status", sleep.pid))
	if m := regexp.MustCompile(`SigIgn:\s*([0-9a-f]+)`).FindStringSubmatch(ign); m == nil || m[1][len(m[1])-1]&1 == 0 {
		g.t.Fatalf("the background job %v does not ignore SIGHUP: %q", sleep, ign)
	}
	g.t.Logf("the shell's session before its end: shell %d, stopped %v, SIGHUP-ignoring %v", sh.pid, tail, sleep)
}

// checkChordThenExit: the same cycle, opened by two chords in a row (the
// hotkey's debounce, or a switch back to the living shell: one shell
// either way), left by `exit` typed in the shell; then VT63 switches like
// any other VT again.
func checkChordThenExit(g *guest) {
	g.chord("box", 2)
	g.checkFrozen("box", true)
	sh := g.shellOnVT63()
	n := g.logLines()
	g.typeKeys("exit\n")
	if !g.waitGuest(`[ "$(cat /sys/class/tty/tty0/active)" = tty1 ] && grep -qx 'frozen 0' /sys/fs/cgroup/initns/box/cgroup.events`, 30*time.Second) {
		g.t.Fatalf("after exit in the host shell: %s in front, cgroup.events:\n%s\ndaemon log:\n%s",
			g.activeVT(), g.sh("cat /sys/fs/cgroup/initns/box/cgroup.events"), g.logSince(n))
	}
	g.checkFrozen("box", false)
	g.shellGone(sh.pid)
	if log := g.logSince(n); !strings.Contains(log, `msg="console: host shell exited"`) {
		g.t.Errorf("the daemon did not log the shell's exit:\n%s", log)
	}
	// VT63 is the kernel's again (VT_AUTO): from it, Alt+F1 switches at
	// once, where a VT_PROCESS mode left behind would wait for an answer
	// that never comes.
	g.sh("timeout 10 chvt 63")
	if vt := g.activeVT(); vt != shellVT {
		g.t.Fatalf("chvt 63 after the shell ended: %s in front, want %s", vt, shellVT)
	}
	g.sendkey("alt-f1")
	if !g.waitGuest(`[ "$(cat /sys/class/tty/tty0/active)" = tty1 ]`, 20*time.Second) {
		g.t.Errorf("Alt+F1 on VT63 after the shell ended: %s in front, want %s (VT63 still held in VT_PROCESS mode?)", g.activeVT(), homeVT)
	}
}

// checkRunTypedInShell: `initns run box` typed in the host shell itself,
// as its banner says, ends that shell's session, the client that asked
// included, thaws box and gives VT1 back.
func checkRunTypedInShell(g *guest) {
	g.chord("box", 1)
	sh := g.shellOnVT63()
	n := g.logLines()
	g.typeKeys("initns run box\n")
	if !g.waitGuest(`[ "$(cat /sys/class/tty/tty0/active)" = tty1 ] && grep -qx 'frozen 0' /sys/fs/cgroup/initns/box/cgroup.events`, 30*time.Second) {
		g.t.Fatalf("after initns run box typed in the host shell: %s in front, cgroup.events:\n%s\ndaemon log:\n%s\nVT63 shows:\n%s",
			g.activeVT(), g.sh("cat /sys/fs/cgroup/initns/box/cgroup.events"), g.logSince(n), g.screen())
	}
	g.checkFrozen("box", false)
	g.shellGone(sh.pid)
}

// checkChordNoInstance: with box stopped, the chord still opens the shell,
// and `exit` gives VT1 back.
func checkChordNoInstance(g *guest) {
	g.sh("initns stop box")
	if st := g.instanceState("box"); st != "stopped" {
		g.t.Fatalf("box is %s after stop, want stopped", st)
	}
	n := g.logLines()
	g.chord("", 1)
	if log := g.logSince(n); !strings.Contains(log, `msg="console: no instance running"`) {
		g.t.Errorf("the daemon did not say no instance was running:\n%s", log)
	}
	sh := g.shellOnVT63()
	g.screenHas("No instance is running.")
	g.typeKeys("exit\n")
	if !g.waitGuest(`[ "$(cat /sys/class/tty/tty0/active)" = tty1 ]`, 30*time.Second) {
		g.t.Fatalf("after exit in the host shell, %s is in front, want %s; daemon log:\n%s", g.activeVT(), homeVT, g.logSince(n))
	}
	g.shellGone(sh.pid)
}

// checkChordNoInstanceThenRun, by keyboard alone as a person at the
// console would: the chord with nothing running opens the shell; `initns
// new t` and `initns run t` typed there boot t, end the shell and put t in
// front on VT1 (SPEC §7), so the next chord freezes t; `initns stop t`
// typed in the new shell stops it and gives VT1 back.
func checkChordNoInstanceThenRun(g *guest) {
	n := g.logLines()
	g.chord("", 1)
	sh := g.shellOnVT63()
	g.typeKeys("initns new t busybox.tar.gz\n")
	if !g.waitGuest(`initns ls instance | grep -qx t`, 60*time.Second) {
		g.t.Fatalf("initns new t typed in the host shell did not make t; VT63 shows:\n%s", g.screen())
	}
	g.typeKeys("initns run t\n")
	if !g.waitGuest(`[ "$(cat /sys/class/tty/tty0/active)" = tty1 ] && grep -qx 'frozen 0' /sys/fs/cgroup/initns/t/cgroup.events`, 30*time.Second) {
		g.t.Fatalf("after initns run t typed in the host shell: %s in front, want %s; daemon log:\n%s\nVT63 shows:\n%s",
			g.activeVT(), homeVT, g.logSince(n), g.screen())
	}
	g.shellGone(sh.pid)
	if st := g.instanceState("t"); st != "running" {
		g.t.Fatalf("t is %s after run, want running", st)
	}
	g.chord("t", 1)
	g.checkFrozen("t", true)
	sh = g.shellOnVT63()
	g.typeKeys("initns stop t\n")
	if !g.waitGuest(`[ "$(cat /sys/class/tty/tty0/active)" = tty1 ] && [ ! -e /sys/fs/cgroup/initns/t ]`, 30*time.Second) {
		g.t.Fatalf("after initns stop t typed in the host shell: %s in front; daemon log:\n%s", g.activeVT(), g.logSince(n))
	}
	g.shellGone(sh.pid)
}

// chord presses Ctrl+Alt+J presses times in a row and waits for VT63 in
// front and, if name is not "", instance name frozen; it fails if that
// does not come or if more than one shell opened, and logs how long it
// took: from the daemon's first "chord pressed" to the guest poller seeing
// it (guest clock), the daemon's own figure (its "took", from the chord's
// handling to VT63 held), and from the monitor's first sendkey to the
// serial shell's answer (host clock).
func (g *guest) chord(name string, presses int) {
	g.t.Helper()
	n := g.logLines()
	seen, hostTook := g.pollChord(name, presses)
	if !g.waitLog(n, `msg="console: host shell open"`, 20*time.Second) {
		g.t.Fatalf("VT63 is in front but the daemon never logged the shell open:\n%s", g.logSince(n))
	}
	log := g.logSince(n)
	if opened := strings.Count(log, `msg="console: host shell open"`); opened != 1 {
		g.t.Errorf("%d chords opened %d shells, want 1:\n%s", presses, opened, log)
	}
	pressed, ok := g.logTime(log, `msg="chord pressed"`)
	if !ok {
		g.t.Fatalf("no \"chord pressed\" in the daemon log after the chord:\n%s", log)
	}
	open := regexp.MustCompile(`msg="console: host shell open" pid=\d+ vt=63 frozen=(\S*) took=(\S+)`).FindStringSubmatch(log)
	if open == nil {
		g.t.Fatalf("the shell-open line is not as expected:\n%s", log)
	}
	// slog quotes an empty value.
	if frozen := strings.Trim(open[1], `"`); frozen != name {
		g.t.Errorf("the daemon opened the shell with frozen=%q, want %q:\n%s", frozen, name, log)
	}
	what := "no instance running"
	if name != "" {
		what = name + " frozen"
	}
	g.t.Logf("console: chord to VT63 in front (%s): %v in the guest (daemon's \"chord pressed\" to the poller seeing it); daemon's own took=%s; host: sendkey to the serial shell's answer %v",
		what, seen.Sub(pressed).Round(time.Millisecond), open[2], hostTook.Round(time.Millisecond))
}

// pollChord starts a poller on the serial shell that watches for VT63 in
// front and, if name is not "", cgroup.events "frozen 1"; then it presses
// the chord presses times. It returns the guest's clock when the poller
// saw it, and the host's time from the first sendkey to the answer.
func (g *guest) pollChord(name string, presses int) (time.Time, time.Duration) {
	g.t.Helper()
	cond := `read a </sys/class/tty/tty0/active; [ "$a" = tty63 ]`
	if name != "" {
		cond += " && grep -qx 'frozen 1' /sys/fs/cgroup/initns/" + name + "/cgroup.events"
	}
	// Builtins only in the loop but for sleep and grep, so that the poller
	// takes little from the daemon on the guest's one CPU. touch+stat give
	// the guest clock to the nanosecond.
	cmd := fmt.Sprintf("echo po''lling; i=0; until %s; do [ $i -ge 2000 ] && break; sleep 0.01; i=$((i+1)); done; "+
		"touch /tmp/.vt63; stat -c %%y /tmp/.vt63; %s && echo reached", cond, cond)
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	off := g.vm.Console.Offset()
	go func() {
		out, _, err := g.vm.Console.Run(cmd, 120*time.Second)
		done <- result{out, err}
	}()
	if err := g.vm.Console.ExpectFrom(off, "polling\n", 30*time.Second); err != nil {
		g.t.Fatalf("the poller did not start: %v", err)
	}
	sent := time.Now()
	for range presses {
		g.sendkey("ctrl-alt-j")
	}
	r := <-done
	hostTook := time.Since(sent)
	if r.err != nil {
		g.t.Fatalf("poller: %v", r.err)
	}
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 3 || lines[2] != "reached" {
		g.t.Fatalf("Ctrl+Alt+J: VT63 not in front (with %q frozen) within the poller's 20 s: %q; %s in front; daemon log:\n%s",
			name, r.out, g.activeVT(), g.logSince(0))
	}
	seen, err := time.Parse("2006-01-02 15:04:05.999999999 -0700", lines[1])
	if err != nil {
		g.t.Fatalf("guest time %q: %v", lines[1], err)
	}
	return seen, hostTook
}

// checkFrozen checks both what `initns ls` says and what the kernel says.
func (g *guest) checkFrozen(name string, frozen bool) {
	g.t.Helper()
	state, events := "running", "0"
	if frozen {
		state, events = "frozen", "1"
	}
	if st := g.instanceState(name); st != state {
		g.t.Errorf("initns ls: %s is %s, want %s", name, st, state)
	}
	if f := g.cgroupFrozen(name); f != events {
		g.t.Errorf("cgroup.events of %s: frozen %s, want frozen %s", name, f, events)
	}
}

// screen returns what VT63 shows, one line per row.
func (g *guest) screen() string {
	g.t.Helper()
	// /dev/vcs63 is the screen's text, rows of the screen's width with no
	// line ends; vcsa63 starts with rows and columns.
	out := g.sh("cols=$(od -An -tu1 -j1 -N1 /dev/vcsa63); fold -w $cols /dev/vcs63 | sed 's/ *$//' | grep -v '^$'")
	return out
}

// screenHas fails unless VT63 shows s.
func (g *guest) screenHas(s string) {
	g.t.Helper()
	if scr := g.screen(); !strings.Contains(scr, s) {
		g.t.Errorf("VT63 does not show %q; it shows:\n%s", s, scr)
	}
}

// checkKeyboardReplugged unbinds the PS/2 keyboard from its driver, so its
// input device and event node vanish as when a USB keyboard is pulled out,
// and binds it again, so a new input device appears as when a keyboard is
// plugged in later: the hotkey follows, and the chord on the new device
// opens the shell (no instance runs by now).
func checkKeyboardReplugged(g *guest) {
	serio := strings.TrimSpace(g.sh("basename $(ls -d /sys/bus/serio/drivers/atkbd/serio*)"))
	n := g.logLines()
	g.sh("echo -n " + serio + " >/sys/bus/serio/drivers/atkbd/unbind")
	if !g.waitLog(n, `msg="keyboard removed"`, 20*time.Second) {
		g.t.Fatalf("the keyboard's driver was unbound but the hotkey did not drop it; daemon log:\n%s", g.logSince(n))
	}
	m := g.logLines()
	g.sh("echo -n " + serio + " >/sys/bus/serio/drivers/atkbd/bind")
	if !g.waitLog(m, `msg="keyboard added"`, 20*time.Second) {
		g.t.Fatalf("the keyboard came back but the hotkey did not take it; daemon log:\n%s", g.logSince(n))
	}
	g.t.Logf("keyboard unplugged and plugged again:\n%s", g.sh(fmt.Sprintf("tail -n +%d %s | grep keyboard", n+1, daemonLog)))
	g.chord("", 1)
	sh := g.shellOnVT63()
	g.typeKeys("exit\n")
	if !g.waitGuest(`[ "$(cat /sys/class/tty/tty0/active)" = tty1 ]`, 30*time.Second) {
		g.t.Fatalf("after exit in the host shell, %s is in front, want %s", g.activeVT(), homeVT)
	}
	g.shellGone(sh.pid)
}
