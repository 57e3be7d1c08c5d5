package vmtest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"initns/internal/archivetest"
)

// TestBombs feeds issue 12's two worst images to PID 1 in a guest of
// 512 MiB: the 208-byte xz bomb (an empty stream, then a 4 GiB LZMA2
// dictionary), which ended the daemon with "fatal error: out of memory"
// (as PID 1, a kernel panic), and directories with a PAX comment of 1 MiB
// each, whose 800 grew it to 1.1 GB: 500 here, more than the guest's
// memory and half the time to decompress under emulation. The first is
// refused naming the limit, the second extracted; PID 1's peak resident
// memory stays small, the guest keeps running and `initns ls` answers.
func TestBombs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bombs := map[string][]byte{"bomb.tar.xz": archivetest.XzBomb(t), "pax.tar.gz": archivetest.PAXCommentBomb(t, 500)}
	var images []string
	for name, data := range bombs {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		images = append(images, p)
	}
	a := artifacts(t)
	vm := Boot(t, Options{Initramfs: extendedInitramfs(t, a, "", images...), MemoryMB: 512, Tee: teeFor(t)})
	g := &guest{t: t, vm: vm}
	g.waitUp()
	t.Logf("guest: %s", strings.Join(strings.Fields(g.sh("grep MemTotal /proc/meminfo")), " "))

	cases := []struct {
		name, image, want string // want: "" for success
		bound             int    // PID 1's peak resident KiB
	}{
		{"xz-bomb", "bomb.tar.xz", archivetest.XzBombLimit, 32 << 10},
		{"pax-bomb", "pax.tar.gz", "", 96 << 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := g.with(t)
			g.sh("echo 5 > /proc/1/clear_refs")
			start := time.Now()
			out, rc := g.shRC("initns new " + c.name + " " + c.image + " 2>&1")
			t.Logf("%d-byte %s: status %d after %v: %s", len(bombs[c.image]), c.image, rc, time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
			switch {
			case c.want == "" && rc != 0:
				t.Errorf("new %s: status %d: %s", c.image, rc, out)
			case c.want != "" && (rc != 1 || !strings.Contains(out, c.want)):
				t.Errorf("new %s: status %d, %q; want 1 and %q", c.image, rc, out, c.want)
			}
			hwm := g.pid1KiB("VmHWM")
			t.Logf("PID 1: peak resident %d KiB (bound %d KiB), %d KiB now", hwm, c.bound, g.pid1KiB("VmRSS"))
			if hwm > c.bound {
				t.Errorf("PID 1's peak resident memory %d KiB, over %d KiB", hwm, c.bound)
			}
			g.alive()
			if c.want == "" {
				g.sh("initns rm " + c.name)
			}
			if out := g.sh("ls -A /var/lib/initns/rootfs /var/lib/initns/scratch"); strings.Contains(out, c.name) {
				t.Errorf("left behind:\n%s", out)
			}
		})
	}
}

// pid1KiB reads a memory figure (VmHWM, VmRSS) of PID 1 in KiB.
func (g *guest) pid1KiB(key string) int {
	g.t.Helper()
	f := strings.Fields(g.sh("grep '^" + key + ":' /proc/1/status"))
	if len(f) < 2 {
		g.t.Fatalf("no %s in /proc/1/status: %q", key, f)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		g.t.Fatal(err)
	}
	return n
}

// alive asserts PID 1 is still initns, the kernel has not panicked and
// `initns ls` answers.
func (g *guest) alive() {
	g.t.Helper()
	if out := g.sh("cat /proc/1/comm"); strings.TrimSpace(out) != "init" {
		g.t.Errorf("PID 1 is %q", out)
	}
	// Go's "fatal error: out of memory", or the kernel's OOM killer.
	if log := strings.ToLower(g.vm.Console.Log()); strings.Contains(log, "kernel panic") || strings.Contains(log, "out of memory") {
		g.t.Fatalf("the guest's kernel or PID 1 ran out:\n%s", g.vm.Console.Log())
	}
	g.sh("initns ls")
}
