package daemon_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"initns/internal/archivetest"
)

// Issue 12's hostile inputs against the whole daemon process, started
// under an address-space limit as PID 1 meets them on a machine with
// little memory: each ends with a clear error (or, where the input is
// legal, a result), a bounded peak of resident memory, the daemon still
// serving, and nothing half made on disk. The tests of the socket's budget
// (budget_test.go), of hangups and of adoption start their daemon with
// startCapped too and end with withinBudget.

// capAS is the address space the daemon under test may map: the 2 GiB
// under which issue 12's xz bomb ended the daemon with "fatal error: out
// of memory". At rest it maps about 1.2 GiB (the Go runtime's
// reservations) and keeps 7 MiB resident, so the cap leaves it some
// 800 MiB to grow into.
const capAS = 2 << 30

// rssBudget is the most a daemon may keep resident (VmHWM) while it serves
// any one hostile request: the Go soft memory limit it sets itself
// (256 MiB, RELIABILITY.md "Resource budget"); what a request may hold
// within it is smaller, and each test names its own bound.
const rssBudget = 256 << 20

// startCapped starts a daemon of the test's own under capAS (prlimit
// execs it: the pid is the daemon's).
func startCapped(t testing.TB, extra ...string) *env {
	t.Helper()
	e := newEnv(t)
	e.wrap = []string{"prlimit", fmt.Sprintf("--as=%d", capAS), "--"}
	e.start(extra...)
	if lim := e.limitAS(); lim != capAS {
		t.Fatalf("the daemon's address-space limit is %d, want %d", lim, capAS)
	}
	e.resetPeak()
	return e
}

// limitAS reads the daemon's soft RLIMIT_AS from /proc/PID/limits.
func (e *env) limitAS() uint64 {
	e.t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/limits", e.daemon.Process.Pid))
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Max address space"); ok {
			n, _ := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return 0
}

// resetPeak sets the daemon's VmHWM back to its VmRSS (clear_refs 5), so
// that the next withinBudget sees the peak of what follows only, and
// notes that VmRSS: the memory a request freed stays resident until the
// runtime gives it back (minutes, for an idle daemon), and is not the next
// request's.
func (e *env) resetPeak() {
	e.t.Helper()
	e.rssBase = uint64(e.memKB("VmRSS")) << 10
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", e.daemon.Process.Pid), []byte("5"), 0); err != nil {
		e.t.Fatal(err)
	}
}

// withinBudget asserts the daemon is alive, still under capAS, has grown
// its resident memory by at most bound bytes since the last resetPeak and
// kept at most rssBudget in all, answers ls, and is back under 64 MiB
// resident soon after; it returns the growth and resets the peak.
func (e *env) withinBudget(bound uint64) uint64 {
	e.t.Helper()
	peak := uint64(e.memKB("VmHWM")) << 10
	if peak == 0 { // no status: the daemon is gone, or going
		select {
		case <-e.exited:
			e.t.Fatalf("the daemon died under its %d MiB address-space limit (its stderr is above)", capAS>>20)
		case <-time.After(5 * time.Second):
		}
	}
	growth := peak - min(peak, e.rssBase)
	e.t.Logf("daemon: peak resident %.1f MiB, +%.1f MiB (bound +%d MiB), %.1f MiB now, %d MiB mapped",
		mib(peak), mib(growth), bound>>20, float64(e.memKB("VmRSS"))/1024, e.memKB("VmSize")>>10)
	switch {
	case peak == 0:
		e.t.Error("no VmHWM for the daemon")
	case growth > bound:
		e.t.Errorf("the daemon's resident memory grew by %.1f MiB, over %d MiB", mib(growth), bound>>20)
	case peak > rssBudget:
		e.t.Errorf("the daemon's peak resident memory is %.1f MiB, over %d MiB", mib(peak), rssBudget>>20)
	}
	e.ok("ls")
	// What the request freed goes back to the kernel, not minutes later.
	var rss int
	e.waitFor("the daemon to give back the memory its requests freed", func() bool {
		rss = e.memKB("VmRSS")
		return rss <= 64<<10
	}, func() string { return fmt.Sprintf("VmRSS %d KiB", rss) })
	e.resetPeak()
	return growth
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// nothingLeft asserts the state root holds no half-made work: the scratch
// folders are empty, rootfs/ holds only the instances ls lists, and
// images/ only the images named.
func (e *env) nothingLeft(images ...string) {
	e.t.Helper()
	for _, d := range []string{"scratch", "rootfs/.scratch", "images/.scratch"} {
		if names := e.dirNames(d); len(names) > 0 {
			e.t.Errorf("%s holds %v", d, names)
		}
	}
	instances := strings.Fields(e.ok("ls", "instance"))
	for _, n := range e.dirNames("rootfs") {
		if n != ".scratch" && !slices.Contains(instances, n) {
			e.t.Errorf("rootfs/%s is not a listed instance (ls: %v)", n, instances)
		}
	}
	for _, n := range e.dirNames("images") {
		if n != ".scratch" && !slices.Contains(images, n) {
			e.t.Errorf("images/%s left behind (want only %v)", n, images)
		}
	}
}

// registryPrivate asserts the registry files are the daemon's alone.
func (e *env) registryPrivate() {
	e.t.Helper()
	for _, f := range []string{"instances", "instances.meta"} {
		st, err := os.Stat(filepath.Join(e.root, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			e.t.Errorf("%s: %v, %v; want mode 0600", f, st.Mode(), err)
		}
	}
}

// dirNames lists a folder of the state root; none when it is missing.
func (e *env) dirNames(rel string) []string {
	ents, _ := os.ReadDir(filepath.Join(e.root, rel))
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	return names
}

// sparseTree is a folder of n files of size bytes, all hole.
func sparseTree(t *testing.T, n int, size int64) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("sparse%d", i)))
		if err == nil {
			err = f.Truncate(size)
			f.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestHostileImagesUnderCap: issue 12's hostile images, each fed to `new`
// of one daemon under capAS: the 208-byte xz bomb (a 4 GiB dictionary in
// a second stream), 800 directories with a 1 MiB PAX comment each (legal:
// extracted, the comments dropped), the same with 1 MiB of extended
// attributes each, six sparse files of 64 GiB (made by the daemon's own
// seed from a folder of holes), a docker save manifest listing one layer
// 2,000 times, and a .tar.gz padded with zeros after its last member
// (legal). Before the fixes the first ended the daemon; the second held
// 1.1 GB; the last was refused. An instance made has a registry of mode
// 0600.
func TestHostileImagesUnderCap(t *testing.T) {
	e := startCapped(t)
	images := filepath.Join(e.root, "images")
	put := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(images, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(images, 0o755)
	var kept []string
	cases := []struct {
		name, image string
		make        func() // writes images/IMAGE
		want        string // "" for success
		bound       uint64 // peak resident bytes
	}{
		{"xz-bomb", "bomb.tar.xz", func() { put("bomb.tar.xz", archivetest.XzBomb(t)) }, archivetest.XzBombLimit, 32 << 20},
		{"pax-comments", "pax.tar.gz", func() { put("pax.tar.gz", archivetest.PAXCommentBomb(t, 800)) }, "", 96 << 20},
		// 64 MiB kept, as much again before the collector runs (the
		// heap doubles between collections), and the buffers.
		{"pax-xattrs", "xattrs.tar.gz", func() { put("xattrs.tar.gz", archivetest.PAXXattrBomb(t)) }, archivetest.PAXXattrLimit, 160 << 20},
		{"sparse-6x64GiB", "sparse.tar", func() { e.ok("seed", sparseTree(t, 6, 64<<30), "sparse.tar") },
			"8.0 GiB limit on the apparent size of sparse files", 32 << 20},
		{"layer-2000-times", "docker.tar", func() {
			put("docker.tar", archivetest.DockerSave(t, [][]byte{archivetest.Tar(t, archivetest.File("f", "x"))}, make([]int, 2000)))
		}, "2000 layers, over the limit of 128", 32 << 20},
		// Legal, as GNU tar takes it: zeros after the last gzip member,
		// as tools that pad to a block size write.
		{"gzip-padding", "padded.tar.gz", func() {
			put("padded.tar.gz", append(archivetest.Gzip(archivetest.Tar(t, archivetest.File("f", "x"))), make([]byte, 10240)...))
		}, "", 32 << 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := e.with(t)
			c.make()
			kept = append(kept, c.image)
			st, _ := os.Stat(filepath.Join(images, c.image))
			e.resetPeak()
			start := time.Now()
			r := e.client("new", "x", c.image)
			took := time.Since(start)
			t.Logf("%d-byte %s: exit %d in %v: %s", st.Size(), c.image, r.code, took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
			switch {
			case c.want == "" && r.code != 0:
				t.Errorf("new x %s: exit %d: %s", c.image, r.code, r.stderr)
			case c.want != "" && (r.code != 1 || !strings.Contains(r.stderr, c.want)):
				t.Errorf("new x %s: exit %d, %q; want exit 1 naming %q", c.image, r.code, r.stderr, c.want)
			}
			e.withinBudget(c.bound)
			if c.want == "" {
				e.registryPrivate()
				e.ok("rm", "x")
			}
			e.nothingLeft(kept...)
		})
	}
}

// with returns the env failing t (a subtest) instead.
func (e *env) with(t *testing.T) *env { c := *e; c.t = t; return &c }

// TestHangupCancelsCommitSeedClone: a client killed while its commit or
// seed writes a 96 MiB image, its clone copies a 96 MiB instance or its
// reset extracts the image again cancels it; no image, instance or
// temporary file is left, the instance reset is kept as it was, and the
// daemon under capAS keeps serving. (TestHangupCancels does the same for
// new.)
func TestHangupCancelsCommitSeedClone(t *testing.T) {
	e := startCapped(t)
	bigImage(t, filepath.Join(e.root, "images", "big.tar"), 1500, 64<<10)
	e.ok("new", "big", "big.tar")
	e.withinBudget(64 << 20)
	scratch := filepath.Join(e.root, "scratch")
	for _, args := range [][]string{
		{"commit", "big", "committed.tar.gz"},
		{"seed", e.rootfs("big"), "seeded.tar.gz"},
		{"clone", "big", "copy"},
		{"reset", "big"},
	} {
		cmd := exec.Command(filepath.Join(e.bin, "initns"), append([]string{"--socket", e.sock}, args...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		e.waitFor(args[0]+" to start writing", func() bool { ents, _ := os.ReadDir(scratch); return len(ents) > 0 })
		cmd.Process.Kill()
		cmd.Wait()
		e.waitFor("the log to say "+args[0]+" was cancelled", func() bool {
			l := e.requestLog(args[0], args[1])
			return strings.Contains(l, "ok=false") && strings.Contains(l, "cancelled=")
		}, func() string { return "log: " + e.requestLog(args[0], args[1]) })
		t.Logf("%s", e.requestLog(args[0], args[1]))
		e.nothingLeft("big.tar")
		e.withinBudget(64 << 20)
	}
	if ls := e.ok("ls", "instance"); ls != "big\n" {
		t.Errorf("ls instance = %q, want big", ls)
	}
	if _, err := os.Stat(filepath.Join(e.rootfs("big"), "d0", "f0")); err != nil {
		t.Errorf("big after the cancelled reset: %v", err)
	}
}
