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
// exactly the registered instances. The cycles: a reset right after `new`
// answered success (the instance must survive: SPEC §4, durable), one
// during `rm`, and three during `new`, early, midway and late in the time a
// whole `new` took.
func TestPowerCut(t *testing.T) {
	t.Parallel()
	a := artifacts(t)
	initramfs := powerCutInitramfs(t, a)
	disk, facts := powerCutDisk(t)
	vm := Boot(t, Options{Initramfs: initramfs, Cmdline: pcCmdline, AllowReboot: true,
		Drives: []string{disk}, Tee: teeFor(t)})
	g := &guest{t: t, vm: vm}
	g.waitUp()
	if out, rc := g.shRC("test -b /dev/vda"); rc != 0 {
		t.Fatalf("no /dev/vda in the guest (%s): modules loaded:\n%s%s", pcCmdline, out, g.sh("cat /proc/modules; grep -i 'kernel module' /var/lib/initns/log | tail -n 20"))
	}
	g.pcUp()
	t.Logf("image: %d entries, %d files, %d MiB", facts.entries, facts.files, facts.bytes>>20)

	start := time.Now()
	g.sh(pcClient + " new --quiet box " + pcImage)
	full := time.Since(start)
	g.pcCheckComplete("box", facts)
	took := g.pcReset()
	listed := g.pcCheckConsistent("box")
	if !listed {
		t.Errorf("cycle 1: new answered success, then the power cut: box is not listed (new must be durable)")
	} else {
		g.pcCheckComplete("box", facts)
	}
	t.Logf("cycle 1: new took %v; reset right after it answered; box listed: %v (reboot to daemon up: %v)", full.Round(time.Millisecond), listed, took.Round(time.Second))

	seq := 0
	// cycle runs cmd in the background, cuts the power after delay and
	// checks the state root; it returns whether box is listed.
	cycle := func(n int, what, cmd string, delay time.Duration) bool {
		seq++
		off := g.pcBackground(seq, cmd)
		time.Sleep(delay)
		rc := g.pcEnded(off, seq)
		g.pcReset()
		listed := g.pcCheckConsistent("box")
		if listed {
			g.pcCheckComplete("box", facts)
		}
		ended := "still running"
		if rc >= 0 {
			ended = fmt.Sprintf("had answered, status %d", rc)
		}
		t.Logf("cycle %d: %s, reset at %d ms (it %s); box listed: %v", n, what, delay.Milliseconds(), ended, listed)
		switch {
		case rc == 0 && what == "new" && !listed:
			t.Errorf("cycle %d: new had answered success before the power cut, yet box is not listed", n)
		case rc == 0 && what == "rm" && listed:
			t.Errorf("cycle %d: rm had answered success before the power cut, yet box is listed", n)
		}
		return listed
	}

	if cycle(2, "rm", pcClient+" rm box", time.Duration(rand.IntN(400))*time.Millisecond) {
		g.sh(pcClient + " rm box")
	}
	windows := [][2]float64{{0.05, 0.35}, {0.35, 0.7}, {0.7, 1.0}}
	for i, w := range windows {
		delay := time.Duration(float64(full) * (w[0] + rand.Float64()*(w[1]-w[0])))
		if cycle(3+i, "new", pcClient+" new --quiet box "+pcImage, delay) && i < len(windows)-1 {
			g.sh(pcClient + " rm box")
		}
	}
}
