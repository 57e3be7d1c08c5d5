package vmtest

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"initns/internal/inittrace"
)

// BenchmarkSwitchVM measures `switch` between two real Debian systemd
// instances in a guest (initns as PID 1, QEMU -accel tcg, as TestSwitch
// boots them), beside `run`, the way back to a system without switch:
//
//   - switch to a resident instance: the request, as the daemon served it
//     (sent until the arriving instance is thawed and runs, its getty on
//     the console with it), p50 and p90 over 10 switches;
//   - the same 10 switches, until the arriving instance's console answers:
//     from before `initns switch` until a bash left on its VT has run a
//     line typed there (TIOCSTI) right after the command returned, p50
//     and p90;
//   - 10 switches by the cycling chord (QEMU's sendkey), from the press of
//     its last key, as the guest's kernel stamped it, until the arriving
//     console answers a line typed ahead on its VT: no client starts;
//   - where that time goes: the freeze and the thaw (with the console's
//     move) as the daemon logged them, a line typed with no switch (what
//     the measure itself costs), and a start of the client;
//   - switch to a stopped instance: typed until its login prompt on tty1;
//   - run: typed until the login prompt, the one in front stopped first.
func BenchmarkSwitchVM(b *testing.B) {
	_, ramfs := benchArtifacts(b)
	disk, err := DistroDiskOf(context.Background(), b.TempDir(), "systemd", "a", "b")
	if err != nil {
		b.Fatalf("the disk: %v", err)
	}
	vm := Boot(b, Options{Initramfs: ramfs, Cmdline: "rdinit=" + DistroRdinit + " " + distroConsole, MemoryMB: 1024,
		Drives: []string{disk}, Tee: benchTee()})
	defer quitVM(vm)
	c := vm.Console
	if _, err := c.WaitShell(150 * time.Second); err != nil {
		b.Fatal(err)
	}
	if _, rc, err := c.Run("i=0; while [ ! -S /run/initns.sock ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; "+
		"echo a >/var/lib/initns/rootfs/a/etc/hostname; echo b >/var/lib/initns/rootfs/b/etc/hostname", 90*time.Second); err != nil || rc != 0 {
		b.Fatalf("no socket: status %d %v", rc, err)
	}
	toLogin := func(cmd, name string) figure {
		wait := "i=0; while [ $i -lt 3000 ]; do read -r -n 4000 scr </dev/vcs1; case $scr in *'" + name + " login:'*) break ;; esac; sleep 0.1; i=$((i+1)); done; [ $i -lt 3000 ]"
		c.Run(clearVT1, 30*time.Second)
		return guestTimed(b, c, cmd, cmd+" && "+wait, 6*time.Minute)
	}
	first := toLogin("initns switch a", "a")
	stopped := toLogin("initns switch b", "b")
	bashOnVT(b, c, "a", 8)
	bashOnVT(b, c, "b", 9)
	mark, _, _ := c.Run("wc -l <"+daemonLog, 30*time.Second)
	writeGuestFile(b, c, "/tmp/answer.pl", answerScript)
	out, rc, err := c.Run(consoleAnswers, 5*time.Minute)
	if err != nil || rc != 0 {
		b.Fatalf("switch, typed on the console: status %d %v\n%s", rc, err, out)
	}
	answered, returned := answerDurations(out)
	if len(answered) != 10 {
		b.Fatalf("%d consoles answered, want 10:\n%s", len(answered), out)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(mark))
	log, _, _ := c.Run(fmt.Sprintf("tail -n +%d %s", n+1, daemonLog), 30*time.Second)
	resident := logDurations(log, switchServed)
	if len(resident) != 10 {
		b.Fatalf("%d switches in the daemon's log, want 10", len(resident))
	}
	parks, resumes, arrivals := logDurations(log, parkLine), logDurations(log, resumeLine), logDurations(log, arriveLine)
	chord := chordAnswers(b, vm)
	out, rc, err = c.Run(typedAnswers, 5*time.Minute)
	if err != nil || rc != 0 {
		b.Fatalf("a line typed on the console in front: status %d %v\n%s", rc, err, out)
	}
	typed, _ := answerDurations(out)
	clientStart := guestTimed(b, c, "initns ls, 20 times", "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do initns ls >/dev/null; done", time.Minute)
	inits, _, _ := c.Run("for i in 1 2 3 4 5; do GODEBUG=inittrace=1 initns ls 2>&1 >/dev/null; done", time.Minute)
	forkExec := guestTimed(b, c, "busybox true, 20 times", "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do busybox true; done", time.Minute)
	c.Run("initns stop a", 2*time.Minute)
	run := toLogin("initns run a", "a")

	p50, p90 := resident[len(resident)/2], resident[len(resident)*9/10]
	fmt.Printf("\nBenchmarkSwitchVM, two systemd instances (QEMU -accel tcg, 1 vCPU, 1024 MB), guest clock:\n")
	fmt.Printf("  switch to a resident instance (request served: thawed, running): p50 %v, p90 %v\n", p50, p90)
	fmt.Printf("  switch to a resident instance (sent until a line typed on its VT is run by its bash): p50 %v, p90 %v\n",
		answered[len(answered)/2], answered[len(answered)*9/10])
	fmt.Printf("  switch to a resident instance by the cycling chord (Ctrl+Alt+PgDn pressed until a line typed on its VT is run by its bash): p50 %v, p90 %v\n",
		chord[len(chord)/2], chord[len(chord)*9/10])
	fmt.Printf("  where the time goes, p50: the command typed until it returned %v; ", median(returned))
	fmt.Printf("freeze the one in front %v (its VT left), thaw the arriving one %v (its VT in front: %v);\n"+
		"    a line typed on the VT in front, no switch, until its bash ran it: %v; the client typed (initns ls): %v, of busybox true: %v\n",
		median(parks), median(resumes), median(arrivals), median(typed), clientStart.d/20, forkExec.d/20)
	initCost, err := inittrace.Read(inits, 5)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("    the client's package initialisation under emulation: %v\n", initCost)
	fmt.Printf("  switch to a stopped instance, to its login prompt: %v (first boot, nothing in front: %v)\n", stopped.d, first.d)
	fmt.Printf("  run (stop the one in front, boot), to the login prompt: %v: %.0fx the switch to a resident instance (p50)\n", run.d, run.d.Seconds()/p50.Seconds())
	b.ReportMetric(float64(p50)/1e6, "switch-resident-ms")
	b.ReportMetric(float64(answered[len(answered)/2])/1e6, "switch-answer-ms")
	b.ReportMetric(float64(chord[len(chord)/2])/1e6, "chord-answer-ms")
	report(b, run, "run-login-s")
	if run.err == nil {
		b.ReportMetric(run.d.Seconds()/p50.Seconds(), "run/switch")
	}
}

var (
	switchServed = regexp.MustCompile(`command=switch .*ok=true .*duration=(\S+)`)
	parkLine     = regexp.MustCompile(`msg=state instance=\S+ state=resident took=(\S+)`)
	resumeLine   = regexp.MustCompile(`msg=state instance=\S+ state=running resumed=true took=(\S+)`)
	arriveLine   = regexp.MustCompile(`msg="console: arrived" .*took=(\S+)`)
)

// logDurations returns the durations that re's first group finds in the
// daemon's log lines, sorted.
func logDurations(log string, re *regexp.Regexp) []time.Duration {
	var ds []time.Duration
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		if d, err := time.ParseDuration(m[1]); err == nil {
			ds = append(ds, d)
		}
	}
	slices.Sort(ds)
	return ds
}

// median is the middle of sorted ds, 0 for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[len(ds)/2]
}

// answerScript is the perl that times a switch until the arriving
// instance's console answers: a bash the bench left on its VT, a's on
// tty8 (fd 8, screen /dev/vcs8 on fd 3), b's on tty9 (fd 9, /dev/vcs9 on
// fd 6). Run from a's tree (chroot) in the guest's namespaces, it talks to
// the guest's shell through two fifos (fds 4 and 5). Told "start", it
// reads the clock (CLOCK_MONOTONIC) before the shell runs `initns switch`;
// told the name and a digit k once the command returned, it types
// "echo A$((k))Z" and Enter on that VT (TIOCSTI, as the keyboard would)
// and reads its screen every 2 ms until "AkZ" shows: bash ran the line,
// which a frozen bash cannot do. It answers the seconds from "start"
// until then and until the command returned, or "none" after 30 s.
const answerScript = perlCommon +
	`while (defined($l = <G>)) { chomp $l; if ($l eq "start") { $t0 = now(); print "ok\n"; next } ` +
	`$t1 = now(); ($t, $v, $k) = target($l); type_on($t, "echo A\$(($k))Z\n"); wait_screen($v, "A${k}Z", now() + 30); ` +
	`printf "%.6f %.6f\n", now() - $t0, $t1 - $t0 }`

// perlCommon is what answerScript and chordScript share: the clock
// (CLOCK_MONOTONIC), the fds, and three subs: target says the VT and
// screen of "NAME K" and K; type_on types a line on a VT (TIOCSTI, as the
// keyboard would); wait_screen reads a screen every 2 ms until it shows a
// text, or answers "none" and ends the script at a deadline.
const perlCommon = `sub now { my $t = "\0" x 16; syscall(228, 1, $t) == 0 or die "clock_gettime: $!"; my ($s, $n) = unpack("q q", $t); $s + $n / 1e9 } ` +
	`open(TA, "<&=8") or die $!; open(TB, "<&=9") or die $!; open(VA, "<&=3") or die $!; open(VB, "<&=6") or die $!; ` +
	`open(G, "<&=4") or die $!; open(D, ">&=5") or die $!; select(D); $| = 1; ` +
	`sub target { my ($name, $k) = split / /, $_[0]; $name eq "a" ? (*TA, *VA, $k) : (*TB, *VB, $k) } ` +
	`sub type_on { my ($t, $line) = @_; for my $c (split //, $line) { ioctl($t, 0x5412, $c) or die "TIOCSTI: $!" } } ` +
	`sub wait_screen { my ($v, $text, $end) = @_; my $scr; while (1) { sysseek($v, 0, 0); sysread($v, $scr, 65536); return if index($scr, $text) >= 0; ` +
	`if (now() > $end) { print "none\n"; exit 1 } select(undef, undef, undef, 0.002) } } `

// chordScript is the perl that times a switch by the cycling chord until
// the arriving instance's console answers, with the fds of answerScript
// and the keyboard QEMU's sendkey types on (evdev) on fd 7. Told the name
// and a digit k on fd 4, it types "echo C$((k))Z" and Enter on that
// instance's VT while it is still resident (the keys wait in the
// terminal, as a person's typed ahead would) and says "typed"; then it
// waits for the press of the chord's last key, PgDn, and reads the
// screen every 2 ms until "CkZ" shows. It answers the seconds from the
// key's press, as the kernel stamped it (CLOCK_MONOTONIC, set with
// EVIOCSCLOCKID), until then, or "none" after 30 s. "quit" ends it.
const chordScript = perlCommon +
	`open(KB, "<&=7") or die $!; $clock = pack("i", 1); ioctl(KB, 0x400445a0, $clock) or die "EVIOCSCLOCKID: $!"; ` +
	`while (defined($l = <G>)) { chomp $l; last if $l eq "quit"; ($t, $v, $k) = target($l); type_on($t, "echo C\$(($k))Z\n"); ` +
	`print "typed\n"; $end = now() + 30; $t1 = 0; ` +
	`while (!$t1) { $in = ""; vec($in, fileno(KB), 1) = 1; $left = $end - now(); ` +
	`if ($left <= 0 || select($in, undef, undef, $left) <= 0) { print "none\n"; exit 1 } sysread(KB, $evs, 24 * 64) or die "read the keyboard: $!"; ` +
	`for ($i = 0; $i + 24 <= length($evs); $i += 24) { ($s, $us, $type, $code, $val) = unpack("q q S S l", substr($evs, $i, 24)); ` +
	`$t1 = $s + $us / 1e6 if $type == 1 && $code == 109 && $val == 1 } } ` +
	`wait_screen($v, "C${k}Z", $end); printf "%.6f\n", now() - $t1 }`

// chordAnswers times 10 switches by the cycling chord (b in front, each
// instance with a bash on its VT) with chordScript: the host types the
// chord through QEMU's monitor once the line waits on the arriving VT.
// It returns the times, sorted.
func chordAnswers(b *testing.B, vm *VM) []time.Duration {
	c := vm.Console
	writeGuestFile(b, c, "/tmp/chord.pl", chordScript)
	start := `rm -f /tmp/go /tmp/done; mkfifo /tmp/go /tmp/done; kbd=; ` +
		`for e in /sys/class/input/event*; do grep -qi keyboard $e/device/name 2>/dev/null && kbd=/dev/input/${e##*/}; done; [ -n "$kbd" ] && ` +
		`exec 6<>/tmp/go 7<>/tmp/done && ` +
		`{ chroot /var/lib/initns/rootfs/a perl - </tmp/chord.pl 8</dev/tty8 9</dev/tty9 3</dev/vcs8 6</dev/vcs9 7<$kbd 4<>/tmp/go 5<>/tmp/done & }`
	if out, rc, err := c.Run(start, 30*time.Second); err != nil || rc != 0 {
		b.Fatalf("the chord's timer: status %d %v\n%s", rc, err, out)
	}
	defer c.Run(`echo quit >&6; wait; exec 6>&- 7<&-; rm -f /tmp/go /tmp/done`, 30*time.Second)
	var ds []time.Duration
	var pressed time.Time
	for k := range 10 {
		name := []string{"a", "b"}[k%2]
		out, _, err := c.Run(fmt.Sprintf(`echo "%s %d" >&6; read -r r <&7; echo "@@R $r"`, name, k), 30*time.Second)
		if err != nil || !strings.Contains(out, "@@R typed") {
			b.Fatalf("type on %s's VT: %v\n%s", name, err, out)
		}
		// Chords closer than the daemon's debounce (300 ms) count once.
		time.Sleep(time.Until(pressed.Add(600 * time.Millisecond)))
		if err := sendKeys(vm.Monitor, "ctrl-alt-pgdn"); err != nil {
			b.Fatal(err)
		}
		pressed = time.Now()
		out, _, err = c.Run(`read -r r <&7; echo "@@R $r"`, time.Minute)
		m := chordLine.FindStringSubmatch(out)
		if err != nil || m == nil {
			state, _, _ := c.Run("initns ls; tail -n 20 "+daemonLog+"; cat /dev/vcs8; echo; cat /dev/vcs9", 30*time.Second)
			b.Fatalf("the chord to %s: %v\n%s\n%s", name, err, out, state)
		}
		sec, _ := strconv.ParseFloat(m[1], 64)
		ds = append(ds, time.Duration(sec*float64(time.Second)))
	}
	// Ten chords from b in front: b is back in front.
	if out, rc, _ := c.Run("initns ls | grep -qE '^b +running' && initns ls | grep -qE '^a +resident'", 30*time.Second); rc != 0 {
		log, _, _ := c.Run("initns ls; tail -n 40 "+daemonLog, 30*time.Second)
		b.Fatalf("after ten chords, not b in front and a resident: %s\n%s", out, log)
	}
	slices.Sort(ds)
	return ds
}

var chordLine = regexp.MustCompile(`@@R ([0-9.]+)\n`)

// consoleAnswers is the guest's command line that switches 10 times
// between a and b (b in front, each with a bash on its VT) and times each
// switch with answerScript (in /tmp/answer.pl) until the arriving
// instance's console answers; it prints "@@A ANSWERED RETURNED" (seconds)
// per switch.
var consoleAnswers = typedLines("case $k in [02468]) n=a ;; *) n=b ;; esac; ", "initns switch $n || break; ")

// typedAnswers is consoleAnswers without the switches: 10 lines typed on
// b's VT, in front, each timed until b's bash ran it. It is what the
// measure itself costs under emulation.
var typedAnswers = typedLines("n=b; ", "")

// typedLines is the command line of ten timed lines: pick sets n, the
// instance whose VT is typed on, from k; between runs after the clock
// starts and before the typing.
func typedLines(pick, between string) string {
	return `rm -f /tmp/go /tmp/done; mkfifo /tmp/go /tmp/done; ` +
		`chroot /var/lib/initns/rootfs/a perl - </tmp/answer.pl 8</dev/tty8 9</dev/tty9 3</dev/vcs8 6</dev/vcs9 4</tmp/go 5>/tmp/done & ` +
		`exec 6>/tmp/go 7</tmp/done; ok=0; ` +
		`for k in 0 1 2 3 4 5 6 7 8 9; do ` + pick +
		`echo start >&6; read -r r <&7; ` + between + `echo "$n $k" >&6; read -r d <&7 || break; ` +
		`echo "@@A $d"; [ "$d" = none ] && break; ok=$((ok+1)); done; ` +
		`exec 6>&- 7<&-; wait; rm -f /tmp/go /tmp/done; [ $ok -eq 10 ]`
}

// bashOnVT switches to name, brings VT n to front and leaves a bash
// there in name, as a person logged in there (the VT's getty masked
// first), then waits for its prompt.
func bashOnVT(b *testing.B, c *Console, name string, n int) {
	for _, cmd := range []string{
		"initns switch " + name,
		fmt.Sprintf("initns exec %s -- systemctl mask --runtime --now autovt@tty%d.service getty@tty%d.service", name, n, n),
		fmt.Sprintf("chvt %d", n),
		fmt.Sprintf(`initns exec %s -- systemd-run --unit=vt-bash sh -c 'exec bash --norc --noprofile -i <>/dev/tty%d >&0 2>&0'`, name, n),
		fmt.Sprintf("i=0; while [ $i -lt 300 ]; do read -r -n 4000 scr </dev/vcs%d; case $scr in *bash-*) break ;; esac; sleep 0.1; i=$((i+1)); done; [ $i -lt 300 ]", n),
	} {
		if out, rc, err := c.Run(cmd, 2*time.Minute); err != nil || rc != 0 {
			b.Fatalf("a bash on %s's tty%d: %s: status %d %v\n%s", name, n, cmd, rc, err, out)
		}
	}
}

// writeGuestFile writes text (no single quotes in it) to path on the
// guest in pieces: the guest's shell reads at most ~1000 characters a line.
func writeGuestFile(b *testing.B, c *Console, path, text string) {
	c.Run("rm -f "+path, 30*time.Second)
	for len(text) > 0 {
		n := min(len(text), 600)
		if _, rc, err := c.Run("printf %s '"+text[:n]+"' >>"+path, 30*time.Second); err != nil || rc != 0 {
			b.Fatalf("write %s: status %d %v", path, rc, err)
		}
		text = text[n:]
	}
}

var answerLine = regexp.MustCompile(`@@A ([0-9.]+) ([0-9.]+)\n`)

// answerDurations returns the times consoleAnswers printed, sorted: until
// the console answered, and until the command returned.
func answerDurations(out string) (answered, returned []time.Duration) {
	for _, m := range answerLine.FindAllStringSubmatch(out, -1) {
		a, aerr := strconv.ParseFloat(m[1], 64)
		r, rerr := strconv.ParseFloat(m[2], 64)
		if aerr == nil && rerr == nil {
			answered = append(answered, time.Duration(a*float64(time.Second)))
			returned = append(returned, time.Duration(r*float64(time.Second)))
		}
	}
	slices.Sort(answered)
	slices.Sort(returned)
	return answered, returned
}
