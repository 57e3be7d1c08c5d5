package vmtest

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestPowerCut cuts the power (QEMU's system_reset) while a daemon, not
// PID 1, works on a state root on a virtio ext4 disk, and checks after each
// reboot that nothing half-made is listed (issue 6): the registry lists
// box or nothing, a listed box is the whole image (every entry, every
// file's md5), scratch/ is empty once the daemon is up, and rootfs/ holds
// exactly the registered instances.
//
// The cycles: a reset right after `new` answered success (box must survive:
// SPEC §4, durable); two during `rm`, at a random moment and as soon as the
// new registry without box is in place (its rename may or may not have
// reached the disk: either way a consistent state); three during `new` at
// random moments from early to late in the time a whole `new` took; and two
// about its commit point: as soon as the extracted tree appears in rootfs/,
// and as soon as the registry's new version is being written (the tree's
// rename and the metadata naming box are on the disk, the registry line is
// not yet). For these three, the guest stops the daemon (SIGSTOP) the
// moment it sees the condition, so the console's and monitor's latency does
// not let the operation run on to its end before the reset. Each cycle logs
// what the power cut left on the disk (scratch/, rootfs/ and the registry
// before the daemon started) and what the daemon then listed. After its
// checks a cycle syncs, so that the next one starts from a state on the
// disk and what it logs is its own doing.
func TestPowerCut(t *testing.T) {
	t.Parallel()
	a := artifacts(t)
	initramfs := powerCutInitramfs(t, a)
	disk, facts := powerCutDisk(t)
	vm := Boot(t, Options{Initramfs: initramfs, Cmdline: pcCmdline, AllowReboot: true,
		Drives: []string{disk}, Tee: teeFor(t)})
	g := &guest{t: t, vm: vm}
	g.waitUp()
	g.pcUp()
	t.Logf("image: %d entries, %d files, %d MiB", facts.entries, facts.files, facts.bytes>>20)

	newBox := pcClient + " new --quiet box " + pcImage
	start := time.Now()
	g.sh(newBox)
	full := time.Since(start)
	g.pcCheckComplete("box", facts)
	took, before := g.pcReset()
	listed := g.pcCheckConsistent("box")
	if !listed {
		t.Errorf("cycle 1: new answered success, then the power cut: box is not listed (new must be durable)")
	} else {
		g.pcCheckComplete("box", facts)
	}
	t.Logf("cycle 1: new took %v; reset right after it answered; on disk at boot: %s; box listed: %v (reset to daemon up: %v)",
		full.Round(time.Millisecond), before, listed, took.Round(time.Second))
	g.sh("sync")

	seq := 0
	// cycle runs cmd in the background and cuts the power after delay or,
	// with watch, as soon as the guest sees watch hold; it checks the state
	// root and returns whether box is listed.
	cycle := func(n int, what, cmd string, delay time.Duration, watch string) bool {
		seq++
		off := g.pcBackground(seq, cmd, watch)
		began := time.Now()
		held := false
		if watch != "" {
			held = g.pcSeen(off, seq, watch)
		} else {
			time.Sleep(delay)
		}
		at := time.Since(began)
		rc := g.pcEnded(off, seq)
		_, before := g.pcReset()
		listed := g.pcCheckConsistent("box")
		if listed {
			g.pcCheckComplete("box", facts)
		}
		ended := "still running"
		if rc >= 0 {
			ended = fmt.Sprintf("had answered, status %d", rc)
		}
		when := fmt.Sprintf("at %d ms", at.Milliseconds())
		if watch != "" {
			when = fmt.Sprintf("as soon as `%s` held (daemon stopped then), %d ms in", watch, at.Milliseconds())
			if !held {
				when = fmt.Sprintf("when it answered before `%s` was seen to hold, %d ms in", watch, at.Milliseconds())
			}
		}
		t.Logf("cycle %d: %s, reset %s (it %s); on disk at boot: %s; box listed: %v", n, what, when, ended, before, listed)
		switch {
		case rc == 0 && what == "new" && !listed:
			t.Errorf("cycle %d: new had answered success before the power cut, yet box is not listed", n)
		case rc == 0 && what == "rm" && listed:
			t.Errorf("cycle %d: rm had answered success before the power cut, yet box is listed", n)
		}
		g.sh("sync")
		return listed
	}

	rmBox := pcClient + " rm box"
	if !cycle(2, "rm", rmBox, time.Duration(rand.IntN(400))*time.Millisecond, "") {
		g.sh(newBox + " && sync")
	}
	if cycle(3, "rm", rmBox, 0, "! grep -qx box "+pcRoot+"/instances") {
		g.sh(rmBox + " && sync")
	}
	windows := [][2]float64{{0.05, 0.4}, {0.4, 0.75}, {0.75, 1.0}}
	for i, w := range windows {
		delay := time.Duration(float64(full) * (w[0] + rand.Float64()*(w[1]-w[0])))
		if cycle(4+i, "new", newBox, delay, "") {
			g.sh(rmBox + " && sync")
		}
	}
	if cycle(7, "new", newBox, 0, "[ -e "+pcRoot+"/rootfs/box ]") {
		g.sh(rmBox + " && sync")
	}
	// The registry is written last, through a temporary file in scratch/
	// (instances.NNN; the metadata's is instances.meta.NNN): once it
	// exists, the tree's rename into rootfs/ and the metadata naming box
	// are synced, and the registry line is not yet there. A glob, not a
	// grep: the shell tests it without a fork. The window is short (an
	// fsync of a few bytes): when the loop misses it, the cycle is one
	// more reset right after new answered.
	cycle(8, "new", newBox, 0, "set -- "+pcRoot+"/scratch/instances.[0-9]*; [ -e \"$1\" ]")
}
