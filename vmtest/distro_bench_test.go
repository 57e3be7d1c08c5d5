package vmtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"initns/cgroupfs"
)

// BenchmarkDistro measures, per init system of DistroInits, what a user
// waits for, beside what they would otherwise do:
//
//   - initns in the VM (initns as PID 1, the instance on a virtio ext4
//     disk, as TestDistro boots it): from `initns run deb` typed on the
//     guest's shell to "deb-INIT login:" on tty1, and `initns stop deb`,
//     both on the guest's own clock;
//   - a cold boot of the same kernel straight into the same tree (an ext4
//     image of it, Debian's own initramfs, root=/dev/vda): QEMU start to the
//     login prompt on the serial line, and the init's part of it (the
//     tree's init's first line to the prompt); then a poweroff typed in
//     a root shell, to QEMU's exit;
//   - on this host, for systemd: initns run to the login prompt (on VT1,
//     where the tree's getty is) beside systemd-nspawn -b to the one on
//     its console, and the graceful stop of each.
//
// The guests run one after another, each alone on a core. A tree that
// cannot be built or booted is reported as failed, and the others go on.
func BenchmarkDistro(b *testing.B) {
	a, ramfs := benchArtifacts(b)
	var summary []string
	for _, init := range DistroInits {
		b.Run(init, func(b *testing.B) {
			lines := benchDistro(b, a, ramfs, init)
			for _, l := range lines {
				fmt.Println(l)
			}
			summary = append(summary, lines...)
		})
	}
	fmt.Printf("\nBenchmarkDistro, boot to login and graceful stop (VM: QEMU -accel tcg, 1 vCPU, 1024 MB):\n%s\n",
		strings.Join(summary, "\n"))
}

// benchArtifacts builds the guest and the distro initramfs.
func benchArtifacts(b *testing.B) (*Artifacts, string) {
	dir := b.TempDir()
	a, err := Build(dir, true)
	if err != nil {
		b.Fatalf("build the guest: %v", err)
	}
	ramfs, err := DistroInitramfs(dir, a)
	if err != nil {
		b.Fatalf("build the distro initramfs: %v", err)
	}
	return a, ramfs
}

// benchDistro measures one init and returns its report lines.
func benchDistro(b *testing.B, a *Artifacts, ramfs, init string) []string {
	if _, err := DistroTar(init); err != nil {
		b.Errorf("%s: the tree does not build: %v", init, err)
		return []string{fmt.Sprintf("%s: failed: the tree does not build: %s", init, firstLine(err))}
	}
	vm := benchInVM(b, ramfs, init)
	cold := benchColdBoot(b, init)
	lines := []string{vmLine(b, init, vm, cold)}
	if init == "systemd" {
		lines = append(lines, hostLine(b, init, benchOnHost(b, a, init)))
	}
	return lines
}

// A figure is one measured time, or why there is none.
type figure struct {
	d   time.Duration
	err error
}

func (f figure) String() string {
	if f.err != nil {
		return "failed (" + firstLine(f.err) + ")"
	}
	return fmt.Sprintf("%.2f s", f.d.Seconds())
}

// ratio is a/b as "0.78x", or "" when either is missing.
func ratio(a, b figure) string {
	if a.err != nil || b.err != nil || b.d == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.2fx)", a.d.Seconds()/b.d.Seconds())
}

func report(b *testing.B, f figure, unit string) {
	if f.err == nil {
		b.ReportMetric(f.d.Seconds(), unit)
	}
}

func reportRatio(b *testing.B, x, y figure, unit string) {
	if x.err == nil && y.err == nil && y.d > 0 {
		b.ReportMetric(x.d.Seconds()/y.d.Seconds(), unit)
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// fail records err in the benchmark's log and returns it as a figure.
func fail(b *testing.B, what string, err error) figure {
	b.Errorf("%s: %v", what, err)
	return figure{err: err}
}

// vmFigures are initns's figures in the VM.
type vmFigures struct{ run, stop figure }

// coldFigures are the cold boot's: QEMU start to the login prompt, the
// initramfs's /init and the tree's init to it, and a poweroff from a root
// shell to QEMU's exit.
type coldFigures struct {
	whole, initramfs, init, poweroff figure
	initFrom                         string // what the init's part was measured from
}

func vmLine(b *testing.B, init string, vm vmFigures, cold coldFigures) string {
	report(b, vm.run, "run-login-s")
	report(b, vm.stop, "stop-s")
	report(b, cold.init, "cold-init-login-s")
	report(b, cold.whole, "cold-whole-s")
	report(b, cold.poweroff, "cold-poweroff-s")
	reportRatio(b, vm.run, cold.init, "run/cold-init")
	reportRatio(b, vm.stop, cold.poweroff, "stop/cold-poweroff")
	return fmt.Sprintf("%s: initns run->login %v (VM) | cold boot init->login %v%s | initramfs->login %v | whole cold boot %v; "+
		"stop %v (VM) | cold poweroff %v%s",
		init, vm.run, cold.init, ratio(vm.run, cold.init), cold.initramfs, cold.whole,
		vm.stop, cold.poweroff, ratio(vm.stop, cold.poweroff))
}

func hostLine(b *testing.B, init string, h hostFigures) string {
	report(b, h.run, "host-run-login-s")
	report(b, h.nspawn, "nspawn-login-s")
	report(b, h.stop, "host-stop-s")
	report(b, h.nspawnStop, "nspawn-stop-s")
	reportRatio(b, h.run, h.nspawn, "host-run/nspawn")
	reportRatio(b, h.stop, h.nspawnStop, "host-stop/nspawn")
	return fmt.Sprintf("%s (this host): initns run->login %v vs systemd-nspawn -b %v%s; stop %v vs %v%s",
		init, h.run, h.nspawn, ratio(h.run, h.nspawn), h.stop, h.nspawnStop, ratio(h.stop, h.nspawnStop))
}

// benchTee is where the guests' consoles go as they come: stderr with
// INITNS_VM_TEE=1.
func benchTee() io.Writer {
	if os.Getenv("INITNS_VM_TEE") == "1" {
		return os.Stderr
	}
	return nil
}

// benchInVM boots the guest TestDistro boots and times, on the guest's
// clock, `initns run` to the login prompt on tty1 and `initns stop`.
func benchInVM(b *testing.B, ramfs, init string) vmFigures {
	what := init + " in the VM"
	disk, err := DistroDisk(context.Background(), b.TempDir(), init)
	if err != nil {
		f := fail(b, what, err)
		return vmFigures{f, f}
	}
	// The instance's console is the VT in front, as in TestDistro (see
	// distroConsole there): the host shell on ttyS0 stays the benchmark's.
	vm := Boot(b, Options{Initramfs: ramfs, Cmdline: "rdinit=" + DistroRdinit + " " + distroConsole, MemoryMB: 1024,
		Drives: []string{disk}, Tee: benchTee()})
	defer quitVM(vm)
	c := vm.Console
	if _, err := c.WaitShell(150 * time.Second); err != nil {
		f := fail(b, what, err)
		return vmFigures{f, f}
	}
	if out, rc, err := c.Run("i=0; while [ ! -S /run/initns.sock ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; "+
		clearVT1+"; initns ls instance", 90*time.Second); err != nil || rc != 0 || strings.TrimSpace(out) != DistroInstance {
		f := fail(b, what, fmt.Errorf("no socket or no instance %s: %q (status %d) %v", DistroInstance, out, rc, err))
		return vmFigures{f, f}
	}
	login := "deb-" + init + " login:"
	// 3000 polls of at least 0.1 s: five minutes at the least.
	// The shell's own read and case, no grep: under emulation every fork
	// and exec of a poll costs the booting guest a share of its one CPU.
	wait := "i=0; while [ $i -lt 3000 ]; do read -r -n 4000 scr </dev/vcs1; case $scr in *'" + login + "'*) break ;; esac; sleep 0.1; i=$((i+1)); done; [ $i -lt 3000 ]"
	var v vmFigures
	v.run = guestTimed(b, c, what+": initns run to "+login+" on tty1", "initns run "+DistroInstance+" && "+wait, 6*time.Minute)
	if v.run.err != nil {
		v.stop = v.run
		return v
	}
	v.stop = guestTimed(b, c, what+": initns stop", fmt.Sprintf("initns stop --timeout %v %s", distroStopTimeout, DistroInstance), distroStopTimeout+30*time.Second)
	return v
}

// clearVT1 blanks the guest's VT1, so that the login prompt found there is
// the instance's.
const clearVT1 = "head -c $(($(od -An -tu1 -N1 /dev/vcsa1) * $(od -An -tu1 -j1 -N1 /dev/vcsa1))) /dev/zero | tr '\\0' ' ' >/dev/vcs1"

var uptimes = regexp.MustCompile(`@@T ([0-9.]+) ([0-9.]+) ([0-9]+)`)

// guestTimed runs cmd on the guest's shell between two readings of the
// guest's /proc/uptime, so that the serial line's latency does not count,
// and returns the time between them.
func guestTimed(b *testing.B, c *Console, what, cmd string, timeout time.Duration) figure {
	line := "s=$(cut -d' ' -f1 /proc/uptime); " + cmd + "; rc=$?; e=$(cut -d' ' -f1 /proc/uptime); echo \"@@T $s $e $rc\""
	out, _, err := c.Run(line, timeout)
	if err != nil {
		return fail(b, what, err)
	}
	m := uptimes.FindStringSubmatch(out)
	if m == nil {
		return fail(b, what, fmt.Errorf("no times in %q", out))
	}
	if m[3] != "0" {
		return fail(b, what, fmt.Errorf("status %s: %s", m[3], strings.TrimSpace(out)))
	}
	s, _ := strconv.ParseFloat(m[1], 64)
	e, _ := strconv.ParseFloat(m[2], 64)
	return figure{d: time.Duration((e - s) * float64(time.Second))}
}

// quitVM ends QEMU through its monitor, so the next guest has the core.
func quitVM(vm *VM) {
	vm.Monitor.Command("quit")
	vm.Wait(30 * time.Second)
}

// initMarks are the first lines each tree's init prints on the console.
var initMarks = map[string]string{
	"systemd":  "running in system mode",
	"sysvinit": "INIT: version",
	"openrc":   "INIT: version",
	"runit":    "- runit: ",
	// busybox init prints nothing of its own on the console; its tree's
	// rcS prints this line at the end of sysinit, a few mounts in.
	"busybox": "busybox init: sysinit done",
}

// kernelRunInit is the kernel's line as it starts the initramfs's /init.
const kernelRunInit = "Run /init as init process"

// benchColdBoot boots the kernel straight into an ext4 image of init's
// tree, with Debian's own initramfs for it, and a getty on the serial line
// added to this copy of the tree.
func benchColdBoot(b *testing.B, init string) coldFigures {
	what := init + " cold boot"
	fails := func(err error) coldFigures {
		f := fail(b, what, err)
		return coldFigures{whole: f, initramfs: f, init: f, poweroff: f}
	}
	img, err := coldImage(b.TempDir(), init)
	if err != nil {
		return fails(err)
	}
	version := strings.TrimPrefix(filepath.Base(Kernel()), "vmlinuz-")
	initrd := "/boot/initrd.img-" + version
	if _, err := os.Stat(initrd); err != nil {
		return fails(fmt.Errorf("%w (apt-get install initramfs-tools; update-initramfs -c -k %s)", err, version))
	}
	q, err := startQEMU(b, "root=/dev/vda rw console=ttyS0 panic=-1 no_timer_check", initrd, img)
	if err != nil {
		return fails(err)
	}
	defer q.kill()
	var c coldFigures
	mark := initMarks[init]
	c.initFrom = mark
	kernel, err1 := q.rec.wait(0, kernelRunInit, 3*time.Minute)
	first, err2 := q.rec.wait(kernel.end, mark, 3*time.Minute)
	from := first.end
	if err2 != nil {
		from = kernel.end
	}
	login, err3 := q.rec.wait(from, "login: ", 5*time.Minute)
	if err := errors.Join(err1, err3); err != nil {
		return fails(fmt.Errorf("%w; the console's end:\n%s", err, q.rec.tail(2000)))
	}
	c.whole = figure{d: login.at.Sub(q.started)}
	c.initramfs = figure{d: login.at.Sub(kernel.at)}
	if err2 != nil {
		c.init = fail(b, what, fmt.Errorf("the init's first line %q never came: %w", mark, err2))
	} else {
		c.init = figure{d: login.at.Sub(first.at)}
	}
	c.poweroff = coldPoweroff(b, q, login.end, what)
	return c
}

// coldImage writes dir/root.img, an ext4 image of init's tree with a
// getty on the serial line, for this cold boot only.
func coldImage(dir, init string) (string, error) {
	tarPath, err := DistroTar(init)
	if err != nil {
		return "", err
	}
	tree := filepath.Join(dir, "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return "", err
	}
	defer os.RemoveAll(tree)
	if out, err := exec.Command("tar", "-C", tree, "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls",
		"-xpf", tarPath).CombinedOutput(); err != nil {
		return "", fmt.Errorf("tar -xf %s: %w\n%s", tarPath, err, out)
	}
	if err := serialGetty(tree, init); err != nil {
		return "", fmt.Errorf("serial getty: %w", err)
	}
	fi, err := os.Stat(tarPath)
	if err != nil {
		return "", err
	}
	img := filepath.Join(dir, "root.img")
	return img, Ext4Image(tree, img, 2*fi.Size()+1<<30)
}

// serialGetty adds a getty on ttyS0 to a tree: mkdistro.sh leaves none
// there, since in the VM tests ttyS0 is initns's host shell's.
// busybox's gets one on ttyS0 by name, in place of the tree's getty on
// the console if it has one.
func serialGetty(tree, init string) error {
	switch init {
	case "systemd":
		// The tree has no udev, so dev-ttyS0.device never comes and the
		// generator's serial-getty@ttyS0 (bound to it) never starts.
		unit := "ttyS0-getty.service"
		if err := os.WriteFile(filepath.Join(tree, "etc/systemd/system", unit), []byte(serialGettyUnit), 0o644); err != nil {
			return err
		}
		wants := filepath.Join(tree, "etc/systemd/system/getty.target.wants")
		if err := os.MkdirAll(wants, 0o755); err != nil {
			return err
		}
		return os.Symlink("../"+unit, filepath.Join(wants, unit))
	case "sysvinit", "openrc":
		f, err := os.OpenFile(filepath.Join(tree, "etc/inittab"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteString("T0:2345:respawn:/sbin/getty -L ttyS0 115200 vt100\n")
		return errors.Join(err, f.Close())
	case "busybox":
		// A getty on ttyS0 by name, in place of one on the console if
		// the tree has that.
		inittab := filepath.Join(tree, "etc/inittab")
		data, err := os.ReadFile(inittab)
		if err != nil {
			return err
		}
		var kept []string
		for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
			if !strings.Contains(l, "getty") || !strings.Contains(l, "console") {
				kept = append(kept, l)
			}
		}
		kept = append(kept, "ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100", "")
		return os.WriteFile(inittab, []byte(strings.Join(kept, "\n")), 0o644)
	case "runit":
		// Debian's getty-ttyS0 service, which mkdistro.sh takes out of
		// the default runlevel.
		link := filepath.Join(tree, "etc/runit/runsvdir/default/getty-ttyS0")
		if _, err := os.Lstat(link); err == nil {
			return nil
		}
		return os.Symlink("/etc/sv/getty-ttyS0", link)
	}
	return nil
}

// serialGettyUnit is serial-getty@.service for ttyS0 without its device
// dependency.
const serialGettyUnit = `[Unit]
Description=Serial getty on ttyS0, for the cold boot of BenchmarkDistro
After=systemd-user-sessions.service

[Service]
ExecStart=-/sbin/agetty -o '-p -- \\u' --keep-baud 115200,57600,38400,9600 ttyS0 vt100
Type=idle
Restart=always
UtmpIdentifier=ttyS0
TTYPath=/dev/ttyS0
TTYReset=yes
TTYVHangup=yes
KillMode=process
IgnoreSIGPIPE=no
SendSIGHUP=yes
`

// coldPoweroff logs in as root on the serial getty (no password in these
// trees), types poweroff and returns the time to QEMU's exit.
func coldPoweroff(b *testing.B, q *qemu, from int, what string) figure {
	what += ": poweroff from a root shell"
	io.WriteString(q.in, "root\n")
	// A root shell's prompt ends in "# "; busybox's too.
	prompt, err := q.rec.wait(from, "# ", 60*time.Second)
	if err != nil {
		return fail(b, what, fmt.Errorf("no root shell after the login: %w\n%s", err, q.rec.tail(1000)))
	}
	start := time.Now()
	io.WriteString(q.in, "poweroff\n")
	select {
	case <-q.done:
		return figure{d: time.Since(start)}
	case <-time.After(90 * time.Second):
		return fail(b, what, fmt.Errorf("QEMU still running 90 s after poweroff:\n%s", q.rec.tailFrom(prompt.end, 2000)))
	}
}

// qemu is a cold-booting guest: Boot's harness adds initns's own kernel
// arguments, which a plain Debian boot must not get.
type qemu struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	rec     *arrivals
	started time.Time
	done    chan struct{}
}

func startQEMU(b *testing.B, cmdline, initrd, disk string) (*qemu, error) {
	q := &qemu{rec: newArrivals(benchTee()), done: make(chan struct{})}
	q.cmd = exec.Command("qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "1", "-nographic",
		"-serial", "stdio", "-monitor", "none", "-no-reboot",
		"-kernel", Kernel(), "-initrd", initrd, "-append", cmdline,
		"-drive", "file="+disk+",format=raw,if=virtio")
	q.cmd.Stdout = q.rec
	q.cmd.Stderr = &prefixWriter{t: b}
	var err error
	if q.in, err = q.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	q.started = time.Now()
	if err := q.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start qemu-system-x86_64 (apt-get install qemu-system-x86): %w", err)
	}
	go func() { q.cmd.Wait(); q.rec.close(); close(q.done) }()
	return q, nil
}

func (q *qemu) kill() {
	q.cmd.Process.Kill()
	<-q.done
}

// arrivals keeps a console's output with the time each piece arrived, to
// tell when a line came without the delay of waiting for it.
type arrivals struct {
	tee io.Writer

	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	ends   []int // ends[i] is the end of the i-th piece in buf
	times  []time.Time
	closed bool
}

func newArrivals(tee io.Writer) *arrivals {
	a := &arrivals{tee: tee}
	a.cond = sync.NewCond(&a.mu)
	return a
}

func (a *arrivals) Write(p []byte) (int, error) {
	now := time.Now()
	a.mu.Lock()
	a.buf = append(a.buf, p...)
	a.ends = append(a.ends, len(a.buf))
	a.times = append(a.times, now)
	a.cond.Broadcast()
	a.mu.Unlock()
	if a.tee != nil {
		a.tee.Write(p)
	}
	return len(p), nil
}

func (a *arrivals) close() {
	a.mu.Lock()
	a.closed = true
	a.cond.Broadcast()
	a.mu.Unlock()
}

// arrival is where a string ended in the output and when that came.
type arrival struct {
	end int
	at  time.Time
}

// wait waits for s in the output after from.
func (a *arrivals) wait(from int, s string, timeout time.Duration) (arrival, error) {
	timer := time.AfterFunc(timeout, func() { a.mu.Lock(); a.cond.Broadcast(); a.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		if i := bytes.Index(a.buf[min(from, len(a.buf)):], []byte(s)); i >= 0 {
			end := min(from, len(a.buf)) + i + len(s)
			for k, e := range a.ends {
				if e >= end {
					return arrival{end: end, at: a.times[k]}, nil
				}
			}
		}
		if a.closed {
			return arrival{}, fmt.Errorf("waiting for %q: %w", s, ErrClosed)
		}
		if !time.Now().Before(deadline) {
			return arrival{}, fmt.Errorf("waiting %v for %q: %w", timeout, s, ErrTimeout)
		}
		a.cond.Wait()
	}
}

// tail returns the last n bytes of the output.
func (a *arrivals) tail(n int) string { return a.tailFrom(0, n) }

func (a *arrivals) tailFrom(from, n int) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.buf[min(from, len(a.buf)):]
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return string(out)
}

// hostFigures are initns's and systemd-nspawn's on this host.
type hostFigures struct{ run, stop, nspawn, nspawnStop figure }

// benchOnHost times, on this host, systemd-nspawn -b of init's tree to
// the login prompt on its console and its graceful stop (SIGTERM: nspawn
// asks the container to power off), then initns run of a fresh copy of
// the same tree to the login prompt and initns stop. Both trees are on
// an ext4 file system of the benchmark's own (a loop device): an init
// that takes itself for the machine's (initns gives it no container=)
// remounts its root's file system read-only as it powers off, which
// must not be this machine's.
func benchOnHost(b *testing.B, a *Artifacts, init string) hostFigures {
	var h hostFigures
	fs, err := benchFS(b)
	if err != nil {
		f := fail(b, init+" on this host", err)
		return hostFigures{f, f, f, f}
	}
	h.nspawn, h.nspawnStop = benchNspawn(b, fs, init)
	h.run, h.stop = benchHostInitns(b, a, fs, init)
	return h
}

// benchFS mounts a fresh 4 GB ext4 image on a loop device and returns
// where; cleanup unmounts it (mount -o loop sets autoclear).
func benchFS(b *testing.B) (string, error) {
	dir := b.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "fs")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return "", err
	}
	for _, argv := range [][]string{{"truncate", "-s", "4G", img}, {"mkfs.ext4", "-q", "-F", img}, {"mount", "-o", "loop", img, mnt}} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out)
		}
	}
	b.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			b.Logf("umount %s: %v %s", mnt, err, out)
			exec.Command("umount", "-l", mnt).Run()
		}
	})
	return mnt, nil
}

// benchNspawn boots a copy of init's tree with systemd-nspawn -b on a
// terminal of its own. --keep-unit: without a system bus (this host's
// init is not systemd) nspawn cannot make itself a scope unit.
func benchNspawn(b *testing.B, fs, init string) (run, stop figure) {
	what := init + " with systemd-nspawn -b"
	fails := func(err error) (figure, figure) { f := fail(b, what, err); return f, f }
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		return fails(fmt.Errorf("%w: apt-get install systemd-container", err))
	}
	tarPath, err := DistroTar(init)
	if err != nil {
		return fails(err)
	}
	tree := filepath.Join(fs, "nspawn-"+init)
	if err := os.Mkdir(tree, 0o755); err != nil {
		return fails(err)
	}
	if out, err := exec.Command("tar", "-C", tree, "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls",
		"-xpf", tarPath).CombinedOutput(); err != nil {
		return fails(fmt.Errorf("tar -xf %s: %w\n%s", tarPath, err, out))
	}
	// mkdistro.sh masks console-getty, for the VM tests (where systemd
	// takes an initns instance for a container and would put a getty on
	// the host shell's line); under nspawn it is the console's login
	// prompt, as a stock tree has it.
	if err := os.Remove(filepath.Join(tree, "etc/systemd/system/console-getty.service")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fails(err)
	}
	pty, tty, err := openPty()
	if err != nil {
		return fails(err)
	}
	defer pty.Close()
	rec := newArrivals(benchTee())
	// The copy ends (EIO) when nspawn and the container have closed the
	// terminal: nothing more will come.
	go func() { io.Copy(rec, pty); rec.close() }()
	cg, cgfd, err := nspawnCgroup()
	if err != nil {
		tty.Close()
		return fails(err)
	}
	defer removeCgroups(cg)
	defer unix.Close(cgfd)
	cmd := exec.Command("systemd-nspawn", "-b", "-D", tree, "--register=no", "--keep-unit")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, UseCgroupFD: true, CgroupFD: cgfd}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tty.Close()
		return fails(err)
	}
	tty.Close()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	}()
	login, err := rec.wait(0, "login: ", 3*time.Minute)
	if err != nil {
		// nspawn ended, or never reached a prompt: its own words say why.
		return fails(fmt.Errorf("systemd-nspawn -b cannot boot the tree here: %w:\n%s", err, rec.tail(1500)))
	}
	run = figure{d: login.at.Sub(start)}
	start = time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		stop = figure{d: time.Since(start)}
	case <-time.After(60 * time.Second):
		stop = fail(b, what+": stop", fmt.Errorf("still running 60 s after SIGTERM:\n%s", rec.tailFrom(login.end, 1500)))
	}
	return run, stop
}

// nspawnCgroup makes the cgroup systemd-nspawn --keep-unit is born in:
// it makes payload/ and supervisor/ inside the cgroup it finds itself in
// (in cgroup2 and, on a hybrid host, in the name=systemd hierarchy) and
// leaves them behind, and a leftover payload/ makes the next nspawn fail.
func nspawnCgroup() (string, int, error) {
	mnt, err := cgroupfs.FindMount()
	if err != nil {
		return "", -1, err
	}
	name := fmt.Sprintf("initns-bench-nspawn-%d", os.Getpid())
	removeCgroups(name)
	dir := filepath.Join(mnt, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", -1, fmt.Errorf("nspawn's cgroup: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		return "", -1, fmt.Errorf("nspawn's cgroup: %w", err)
	}
	return name, fd, nil
}

// removeCgroups kills what is left in the cgroup name and removes it, and
// what is inside, from the cgroup2 tree and the name=systemd hierarchy.
func removeCgroups(name string) {
	mnt, err := cgroupfs.FindMount()
	if err != nil {
		return
	}
	// The container outlives a killed nspawn.
	os.WriteFile(filepath.Join(mnt, name, "cgroup.kill"), []byte("1"), 0)
	time.Sleep(100 * time.Millisecond)
	for _, top := range []string{filepath.Join(mnt, name), filepath.Join("/sys/fs/cgroup/systemd", name)} {
		var dirs []string
		filepath.WalkDir(top, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
	}
}

// openPty opens a pseudo-terminal and returns its master and its
// terminal.
func openPty() (*os.File, *os.File, error) {
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		ptm.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		ptm.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		ptm.Close()
		return nil, nil, err
	}
	return ptm, tty, nil
}

// benchHostInitns starts a daemon of the benchmark's own (state root on
// fs, its own socket and parent cgroup, a pty as the instance's console,
// no hotkey), makes the instance from init's tree and times run to the
// login prompt and stop. The tree's own gettys are on the VTs: systemd
// here finds no container and starts getty@tty1, so the prompt is looked
// for on VT1 (and on the console, for an init that puts one there).
func benchHostInitns(b *testing.B, a *Artifacts, fs, init string) (run, stop figure) {
	what := init + " with initns on this host"
	fails := func(err error) (figure, figure) { f := fail(b, what, err); return f, f }
	d, err := startHostDaemon(b, a.Binary, fs)
	if err != nil {
		return fails(err)
	}
	defer d.close()
	tarPath, err := DistroTar(init)
	if err != nil {
		return fails(err)
	}
	if err := linkOrCopy(tarPath, filepath.Join(d.root, "images", init+".tar")); err != nil {
		return fails(err)
	}
	if out, err := d.client("new", DistroInstance, init+".tar"); err != nil {
		return fails(fmt.Errorf("initns new: %w: %s", err, out))
	}
	if err := clearHostVT1(); err != nil {
		return fails(err)
	}
	login := "deb-" + init + " login:"
	start := time.Now()
	if out, err := d.client("run", DistroInstance); err != nil {
		return fails(fmt.Errorf("initns run: %w: %s", err, out))
	}
	for deadline := start.Add(3 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		vcs, _ := os.ReadFile("/dev/vcs1")
		if bytes.Contains(vcs, []byte(login)) || strings.Contains(d.console.tail(1<<20), login) {
			run = figure{d: time.Since(start)}
			break
		}
		if time.Now().After(deadline) {
			return fails(fmt.Errorf("no %q on VT1 or the console within 3 minutes; console:\n%s", login, d.console.tail(1500)))
		}
	}
	start = time.Now()
	if out, err := d.client("stop", DistroInstance); err != nil {
		return run, fail(b, what+": stop", fmt.Errorf("initns stop: %w: %s", err, out))
	}
	return run, figure{d: time.Since(start)}
}

// clearHostVT1 blanks this host's VT1, so that the prompt found there is
// the instance's.
func clearHostVT1() error {
	hdr := make([]byte, 2)
	f, err := os.Open("/dev/vcsa1")
	if err != nil {
		return fmt.Errorf("the host's VT1: %w", err)
	}
	_, err = io.ReadFull(f, hdr)
	f.Close()
	if err != nil {
		return fmt.Errorf("/dev/vcsa1: %w", err)
	}
	return os.WriteFile("/dev/vcs1", bytes.Repeat([]byte(" "), int(hdr[0])*int(hdr[1])), 0)
}

// hostDaemon is a daemon started in the background on this host, for the
// benchmark and the host tests of real trees.
type hostDaemon struct {
	bin, root, sock, cgroup string
	console                 *arrivals
	pty, tty                *os.File
	cmd                     *exec.Cmd
	done                    chan struct{}
}

func startHostDaemon(b testing.TB, binary, fs string) (*hostDaemon, error) {
	dir := b.TempDir()
	for _, name := range []string{"init", "initns"} {
		if err := os.Symlink(binary, filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	mnt, err := cgroupfs.FindMount()
	if err != nil {
		return nil, err
	}
	// The benchmark keeps the terminal open too, so that the console's
	// reader does not see its end between instances.
	pty, tty, err := openPty()
	if err != nil {
		return nil, err
	}
	d := &hostDaemon{tty: tty, bin: dir, root: filepath.Join(fs, "state"), sock: filepath.Join(dir, "initns.sock"),
		cgroup:  filepath.Join(mnt, fmt.Sprintf("initns-bench-%d", os.Getpid())),
		console: newArrivals(benchTee()), pty: pty, done: make(chan struct{})}
	go io.Copy(d.console, pty)
	// --hotkey=false: the benchmark must not take this machine's keyboards
	// and VT63.
	d.cmd = exec.Command(filepath.Join(dir, "init"), "--root", d.root, "--socket", d.sock, "--cgroup", d.cgroup,
		"--console", tty.Name(), "--hotkey=false")
	d.cmd.Stderr = &prefixWriter{t: b}
	if err := d.cmd.Start(); err != nil {
		pty.Close()
		tty.Close()
		return nil, err
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := d.client("ls"); err == nil {
			return d, nil
		}
		if time.Now().After(deadline) {
			d.close()
			return nil, fmt.Errorf("the daemon did not answer on %s within 20 s", d.sock)
		}
	}
}

func (d *hostDaemon) client(args ...string) (string, error) {
	out, err := exec.Command(filepath.Join(d.bin, "initns"), append([]string{"--socket", d.sock}, args...)...).CombinedOutput()
	return string(out), err
}

// close kills the daemon and whatever it left in its cgroups.
func (d *hostDaemon) close() {
	d.cmd.Process.Kill()
	<-d.done
	if p, err := cgroupfs.OpenParent(d.cgroup); err == nil {
		names, _ := p.Children()
		for _, n := range names {
			p.Group(n).Destroy(10 * time.Second)
		}
		os.Remove(d.cgroup)
	}
	d.tty.Close()
	d.pty.Close()
}
