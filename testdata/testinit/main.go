// Command testinit is the tiny static init the tests boot inside instances.
// It reports what it sees as PID 1 to /report.json, counts its boots in
// /boots, and obeys commands written to the FIFO /ctl:
//
//	reboot | poweroff   reboot(2) inside the PID namespace (SIGHUP / SIGINT)
//	exit N              exit with status N
//	fork N              start N children that sleep forever
//	freeze-self         freeze its own cgroup (mounts cgroup2 at /sys/fs/cgroup)
//	ready               write a line to the FIFO /ready, if it exists
//	count               write to /count its pid and a counter it keeps in
//	                    memory, one more every millisecond it runs from the
//	                    first count on
//
// On the halt signal (SIGRTMIN+4) it writes /halted and exits 0, unless the
// file /ignore-halt exists, in which case it never handles the signal.
// /halt-on, if present, lists other signal numbers (one per line) that
// halt it the same way, and /initctl makes it listen like sysvinit on the
// FIFO /run/initctl: a runlevel request of telinit's form halts it, and
// /halted then says "initctl runlevel N". With /echo-console, holding a
// name, it answers each line read from its console with "NAME: LINE".
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"initns/internal/initreport"
)

// report is what the instance's init sees.
type report = initreport.Report

func main() {
	if os.Args[0] == "sleeper" {
		for {
			time.Sleep(time.Hour)
		}
	}
	os.Mkdir("/proc", 0o555)
	if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		fmt.Fprintln(os.Stderr, "testinit: mount /proc:", err)
	}
	appendLine("/boots", time.Now().Format(time.RFC3339Nano))
	// /ctl exists before the report says init is up.
	os.Remove("/ctl")
	if err := unix.Mkfifo("/ctl", 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "testinit: mkfifo /ctl:", err)
	}
	// The signal mask and dispositions as the daemon handed them over,
	// read before this program sets its own handlers.
	blocked, ignored := signalStatus()
	// The halt handler before the report: the tests stop an instance once
	// it reported, and the kernel drops a signal a namespace's init does
	// not handle.
	if _, err := os.Stat("/ignore-halt"); err != nil {
		halt := make(chan os.Signal, 1)
		signal.Notify(halt, haltSignals()...)
		go func() {
			sig := <-halt
			os.WriteFile("/halted", []byte(fmt.Sprintf("halted %d\n", sig)), 0o644)
			os.Exit(0)
		}()
	}
	// The FIFO too: a stop right after the report must find a reader.
	var ctl *os.File
	if _, err := os.Stat("/initctl"); err == nil {
		ctl = openInitctl()
	}
	writeReport(blocked, ignored)
	ready()
	if ctl != nil {
		go initctl(ctl)
	}
	if name, err := os.ReadFile("/echo-console"); err == nil {
		go echo(strings.TrimSpace(string(name)))
	}
	go reap()
	control()
}

// signalStatus is the SigBlk and SigIgn lines of /proc/self/status.
func signalStatus() (blocked, ignored string) {
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "SigBlk:\t"); ok {
			blocked = v
		}
		if v, ok := strings.CutPrefix(l, "SigIgn:\t"); ok {
			ignored = v
		}
	}
	return blocked, ignored
}

func writeReport(blocked, ignored string) {
	r := report{Pid: os.Getpid(), Ppid: os.Getppid(), Env: os.Environ(), SigBlk: blocked, SigIgn: ignored}
	r.MntNS, _ = os.Readlink("/proc/self/ns/mnt")
	r.PidNS, _ = os.Readlink("/proc/self/ns/pid")
	r.CgroupNS, _ = os.Readlink("/proc/self/ns/cgroup")
	cg, _ := os.ReadFile("/proc/self/cgroup")
	r.Cgroup = strings.TrimSpace(string(cg))
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		r.FDs = append(r.FDs, e.Name()+" "+target)
	}
	root, _ := os.ReadDir("/")
	for _, e := range root {
		r.Root = append(r.Root, e.Name())
	}
	data, _ := json.Marshal(r)
	os.WriteFile("/report.json.tmp", data, 0o644)
	os.Rename("/report.json.tmp", "/report.json")
}

// control obeys commands written to /ctl, forever.
func control() {
	for {
		f, err := os.OpenFile("/ctl", os.O_RDONLY, 0)
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			do(strings.Fields(sc.Text()))
		}
		f.Close()
	}
}

func do(cmd []string) {
	if len(cmd) == 0 {
		return
	}
	n := 0
	if len(cmd) > 1 {
		n, _ = strconv.Atoi(cmd[1])
	}
	switch cmd[0] {
	case "reboot":
		unix.Sync()
		unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	case "poweroff":
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	case "exit":
		os.Exit(n)
	case "freeze-self":
		os.MkdirAll("/sys/fs/cgroup", 0o755)
		unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, "")
		appendLine("/freezing", "1")
		os.WriteFile("/sys/fs/cgroup/cgroup.freeze", []byte("1"), 0)
	case "ready":
		ready()
	case "count":
		ticking.Do(func() { go tick() })
		os.WriteFile("/count.tmp", fmt.Appendf(nil, "%d %d\n", os.Getpid(), ticks.Load()), 0o644)
		os.Rename("/count.tmp", "/count")
	case "fork":
		for i := 0; i < n; i++ {
			if _, err := syscall.ForkExec("/proc/self/exe", []string{"sleeper"}, &syscall.ProcAttr{Files: []uintptr{0, 1, 2}}); err != nil {
				appendLine("/fork-errors", err.Error())
			}
		}
		appendLine("/forked", strconv.Itoa(n))
	}
}

// haltSignals are SIGRTMIN+4 and those listed in /halt-on.
func haltSignals() []os.Signal {
	sigs := []os.Signal{syscall.Signal(38)}
	data, _ := os.ReadFile("/halt-on")
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			sigs = append(sigs, syscall.Signal(n))
		}
	}
	return sigs
}

// openInitctl makes the FIFO /run/initctl and holds it open read-write:
// a reader from now on (a writer's non-blocking open succeeds), and no
// end of file when a writer closes.
func openInitctl() *os.File {
	os.MkdirAll("/run", 0o755)
	unix.Mkfifo("/run/initctl", 0o600)
	f, err := os.OpenFile("/run/initctl", os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testinit: open /run/initctl:", err)
		return nil
	}
	return f
}

// initctl reads sysvinit's control FIFO as sysvinit does: 384-byte
// requests, magic 0x03091969, command 1 (runlevel) and the runlevel.
func initctl(f *os.File) {
	for {
		var req [384]byte
		n, err := io.ReadFull(f, req[:])
		if err != nil {
			return
		}
		word := func(i int) uint32 { return binary.NativeEndian.Uint32(req[4*i:]) }
		if n == len(req) && word(0) == 0x03091969 && word(1) == 1 {
			os.WriteFile("/halted", []byte(fmt.Sprintf("initctl runlevel %c\n", rune(word(2)))), 0o644)
			os.Exit(0)
		}
		appendLine("/initctl-errors", fmt.Sprintf("%d bytes: %x", n, req[:16]))
	}
}

// echo answers the console's lines, for the benchmarks of switch.
func echo(name string) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Printf("%s: %s\n", name, sc.Text())
	}
}

// ready tells a benchmark reading the FIFO /ready that init runs: at
// start, and when asked.
func ready() {
	f, err := os.OpenFile("/ready", os.O_WRONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	f.WriteString("up\n")
	f.Close()
}

// ticks is the in-memory state the switch tests look at: frozen, it
// stops; thawed, it goes on from where it was.
var (
	ticks   atomic.Int64
	ticking sync.Once
)

func tick() {
	for range time.Tick(time.Millisecond) {
		ticks.Add(1)
	}
}

func reap() {
	for {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(-1, &ws, 0, nil); err == unix.ECHILD {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func appendLine(path, line string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintln(f, line)
	f.Close()
}
