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
)

// BenchmarkSwitchVM measures `switch` between two real Debian systemd
// instances in a guest (initns as PID 1, QEMU -accel tcg, as TestSwitch
// boots them), beside `run`, the way back to a system without switch:
//
//   - switch to a resident instance: the request, as the daemon served it
//     (sent until the arriving instance is thawed and runs, its getty on
//     the console with it), p50 and p90 over 10 switches;
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
	mark, _, _ := c.Run("wc -l <"+daemonLog, 30*time.Second)
	for i := 0; i < 5; i++ {
		if _, rc, err := c.Run("initns switch a && initns switch b", 60*time.Second); err != nil || rc != 0 {
			b.Fatalf("switch: status %d %v", rc, err)
		}
	}
	n, _ := strconv.Atoi(strings.TrimSpace(mark))
	log, _, _ := c.Run(fmt.Sprintf("tail -n +%d %s", n+1, daemonLog), 30*time.Second)
	resident := switchDurations(log)
	if len(resident) != 10 {
		b.Fatalf("%d switches in the daemon's log, want 10", len(resident))
	}
	c.Run("initns stop a", 2*time.Minute)
	run := toLogin("initns run a", "a")

	p50, p90 := resident[len(resident)/2], resident[len(resident)*9/10]
	fmt.Printf("\nBenchmarkSwitchVM, two systemd instances (QEMU -accel tcg, 1 vCPU, 1024 MB), guest clock:\n")
	fmt.Printf("  switch to a resident instance (request served: thawed, running): p50 %v, p90 %v\n", p50, p90)
	fmt.Printf("  switch to a stopped instance, to its login prompt: %v (first boot, nothing in front: %v)\n", stopped.d, first.d)
	fmt.Printf("  run (stop the one in front, boot), to the login prompt: %v: %.0fx the switch to a resident instance (p50)\n", run.d, run.d.Seconds()/p50.Seconds())
	b.ReportMetric(float64(p50)/1e6, "switch-resident-ms")
	report(b, run, "run-login-s")
	if run.err == nil {
		b.ReportMetric(run.d.Seconds()/p50.Seconds(), "run/switch")
	}
}

var switchServed = regexp.MustCompile(`command=switch .*ok=true .*duration=(\S+)`)

// switchDurations returns the durations of the switch requests the
// daemon's log lines record, sorted.
func switchDurations(log string) []time.Duration {
	var ds []time.Duration
	for _, m := range switchServed.FindAllStringSubmatch(log, -1) {
		if d, err := time.ParseDuration(m[1]); err == nil {
			ds = append(ds, d)
		}
	}
	slices.Sort(ds)
	return ds
}
