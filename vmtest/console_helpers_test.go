package vmtest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The host shell's terminal, as the guest names it.
const (
	shellVT   = "tty63"
	homeVT    = "tty1"
	daemonLog = "/var/lib/initns/log"
	// tty63Nr is /dev/tty63 (major 4, minor 63) as /proc/PID/stat's
	// tty_nr encodes it: minor in bits 0-7 (and 20-31), major in 8-15.
	tty63Nr = 4<<8 | 63
)

// proc is one process of the guest, from /proc/PID/stat.
type proc struct {
	pid, ppid, pgrp, sid, tty int
	state                     string
	comm                      string
}

func (p proc) String() string {
	return fmt.Sprintf("%d %s (%s) ppid %d pgrp %d sid %d tty_nr %#x", p.pid, p.comm, p.state, p.ppid, p.pgrp, p.sid, p.tty)
}

// procStatAwk prints, for each /proc/PID/stat, "pid ppid pgrp sid tty_nr
// state comm": comm last, since it may hold spaces and parentheses (the
// fields after it start after its last ")"). Done in the guest so the
// serial line carries little.
const procStatAwk = `cat /proc/[0-9]*/stat 2>/dev/null | awk '{ j = 0; for (k = length($0); k > 0; k--) if (substr($0, k, 1) == ")") { j = k; break }; i = index($0, "("); split(substr($0, j + 2), f, " "); print $1, f[2], f[3], f[4], f[5], f[1], substr($0, i + 1, j - i - 1) }'`

// procs lists the guest's processes, zombies included.
func (g *guest) procs() []proc {
	g.t.Helper()
	var ps []proc
	for _, line := range strings.Split(strings.TrimSpace(g.sh(procStatAwk)), "\n") {
		f := strings.SplitN(line, " ", 7)
		if len(f) != 7 {
			g.t.Fatalf("guest process line %q: want 7 fields", line)
		}
		var n [5]int
		for i := range n {
			v, err := strconv.Atoi(f[i])
			if err != nil {
				g.t.Fatalf("guest process line %q: %v", line, err)
			}
			n[i] = v
		}
		ps = append(ps, proc{pid: n[0], ppid: n[1], pgrp: n[2], sid: n[3], tty: n[4], state: f[5], comm: f[6]})
	}
	if len(ps) < 3 {
		g.t.Fatalf("only %d processes listed in the guest: %v", len(ps), ps)
	}
	return ps
}

// shellOnVT63 returns the one process whose controlling terminal is
// /dev/tty63 (the idle host shell), and fails unless it is a shell that
// leads a session of its own, started by PID 1.
func (g *guest) shellOnVT63() proc {
	g.t.Helper()
	var on []proc
	for _, p := range g.procs() {
		if p.tty == tty63Nr {
			on = append(on, p)
		}
	}
	if len(on) != 1 {
		g.t.Fatalf("processes with /dev/tty63 as controlling terminal: %v; want exactly one, the host shell", on)
	}
	sh := on[0]
	if sh.sid != sh.pid || sh.pgrp != sh.pid || sh.ppid != 1 || sh.comm != "sh" || sh.state == "Z" {
		g.t.Fatalf("the process on tty63 is %v; want the shell sh (/bin/sh: no bash in the guest) leading its own session and process group, child of PID 1", sh)
	}
	return sh
}

// shellGone fails if anything of the host shell's session sid is left:
// a process with /dev/tty63 as controlling terminal, a member of the
// session (zombies included), or a zombie that PID 1 did not reap.
func (g *guest) shellGone(sid int) {
	g.t.Helper()
	var left []proc
	for _, p := range g.procs() {
		if p.tty == tty63Nr || p.sid == sid || (p.state == "Z" && p.ppid == 1) {
			left = append(left, p)
		}
	}
	if len(left) > 0 {
		g.t.Errorf("after the host shell of session %d ended, these are left: %v; want none (SPEC §7: the whole session ends, no zombies)", sid, left)
	}
}

// waitMember waits for a process named comm in session sid, in state
// state if that is not "", and returns it.
func (g *guest) waitMember(sid int, comm, state string, timeout time.Duration) proc {
	g.t.Helper()
	var ps []proc
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ps = g.procs()
		for _, p := range ps {
			if p.sid == sid && p.comm == comm && (state == "" || p.state == state) {
				return p
			}
		}
	}
	var members []proc
	for _, p := range ps {
		if p.sid == sid {
			members = append(members, p)
		}
	}
	if state == "" {
		state = "any"
	}
	g.t.Fatalf("no %s in state %s in session %d after %v; the session: %v; VT63 shows:\n%s", comm, state, sid, timeout, members, g.screen())
	return proc{}
}

// activeVT returns the VT in front, as /sys/class/tty/tty0/active says.
func (g *guest) activeVT() string {
	g.t.Helper()
	return strings.TrimSpace(g.sh("cat /sys/class/tty/tty0/active"))
}

// cgroupFrozen returns the "frozen" value of the instance's cgroup.events.
func (g *guest) cgroupFrozen(name string) string {
	g.t.Helper()
	out := g.sh("cat /sys/fs/cgroup/initns/" + name + "/cgroup.events")
	m := regexp.MustCompile(`(?m)^frozen (\d)$`).FindStringSubmatch(out)
	if m == nil {
		g.t.Fatalf("no frozen line in the cgroup.events of %s:\n%s", name, out)
	}
	return m[1]
}

// waitGuest runs cond, a shell condition, in the guest every 20 ms until
// it holds, for up to timeout; it returns whether it held.
func (g *guest) waitGuest(cond string, timeout time.Duration) bool {
	g.t.Helper()
	n := int(timeout / (20 * time.Millisecond))
	_, rc := g.shRC(fmt.Sprintf("i=0; until %s; do [ $i -ge %d ] && break; sleep 0.02; i=$((i+1)); done; %s", cond, n, cond))
	return rc == 0
}

// logLines returns the number of lines of the daemon's log: where
// logSince starts.
func (g *guest) logLines() int {
	g.t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(g.sh("wc -l < " + daemonLog)))
	if err != nil {
		g.t.Fatalf("count the lines of %s: %v", daemonLog, err)
	}
	return n
}

// logSince returns the daemon's log after its first n lines.
func (g *guest) logSince(n int) string {
	g.t.Helper()
	return g.sh(fmt.Sprintf("tail -n +%d %s", n+1, daemonLog))
}

// waitLog waits until the daemon's log, after its first n lines, has a line
// matching re (an extended regular expression, single-quote free).
func (g *guest) waitLog(n int, re string, timeout time.Duration) bool {
	g.t.Helper()
	return g.waitGuest(fmt.Sprintf("tail -n +%d %s | grep -qE '%s'", n+1, daemonLog, re), timeout)
}

// logTime returns the time of the first line of log matching re.
func (g *guest) logTime(log, re string) (time.Time, bool) {
	g.t.Helper()
	m := regexp.MustCompile(`(?m)^time=(\S+) .*` + re).FindStringSubmatch(log)
	if m == nil {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		g.t.Fatalf("daemon log time %q: %v", m[1], err)
	}
	return at, true
}

// sendkey presses keys (QEMU's names, such as "ctrl-alt-j") on the
// guest's PS/2 keyboard.
func (g *guest) sendkey(keys string) {
	g.t.Helper()
	if err := sendKeys(g.vm.Monitor, keys); err != nil {
		g.t.Fatal(err)
	}
}

// sendKeys types keys (QEMU's names: "ctrl-alt-pgdn") on the guest's
// keyboard through the monitor; the keys are held 100 ms.
func sendKeys(m *Monitor, keys string) error {
	out, err := m.Command("sendkey " + keys)
	if err != nil {
		return err
	}
	// QEMU answers only on error ("unknown key", "invalid parameter").
	if l := strings.ToLower(out); strings.Contains(l, "unknown") || strings.Contains(l, "invalid") || strings.Contains(l, "error") {
		return fmt.Errorf("sendkey %s: %q", keys, out)
	}
	return nil
}

// keyNames are QEMU's key names for the characters typeKeys can type.
var keyNames = map[rune]string{
	' ': "spc", '/': "slash", '\n': "ret", '.': "dot", '-': "minus",
	'=': "equal", '>': "shift-dot", '$': "shift-4", '_': "shift-minus",
	';': "semicolon", '\'': "apostrophe", '"': "shift-apostrophe", '&': "shift-7",
}

// typeKeys types s on the guest's keyboard, key by key, as a person would.
func (g *guest) typeKeys(s string) {
	g.t.Helper()
	for _, r := range s {
		name, ok := keyNames[r]
		if !ok && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			name, ok = string(r), true
		}
		if !ok {
			g.t.Fatalf("typeKeys: no key for %q", r)
		}
		g.sendkey(name)
	}
}
