package daemon

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// memoryCheckEvery is how often the memory watcher looks at free memory
// while resident instances exist (the kernel signals pressure through a
// PSI trigger, but says nothing when free memory falls). With no resident
// instance the watcher is not running, and the idle daemon never wakes.
const memoryCheckEvery = 2 * time.Second

// psiWindow is the PSI trigger's window: stalls of Pressure percent of it
// wake the watcher (the kernel takes 500 ms to 10 s from root).
const psiWindow = time.Second

// sampleMemory reads the kernel's memory state now.
func sampleMemory() memorySample {
	s := memorySample{SomeAvg10: -1}
	if f, err := os.Open("/proc/pressure/memory"); err == nil {
		if v, err := parsePSI(f); err == nil {
			s.SomeAvg10 = v
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		s.Available, s.Total, _ = parseMeminfo(f)
		f.Close()
	}
	return s
}

// enforceResidents applies --resident-max and the memory policy now, and
// keeps watching memory while resident instances exist.
func (d *Daemon) enforceResidents() {
	d.evict(sampleMemory())
	d.mu.Lock()
	start := !d.memWatching && len(d.resident) > 0 && d.cfg.Memory.On
	d.memWatching = d.memWatching || start
	d.mu.Unlock()
	if start {
		spawn(d.log, "memory watcher", d.watchMemory)
	}
}

// evict stops the resident instances the policy chooses, least recently
// used first. It never touches the instance in front.
func (d *Daemon) evict(s memorySample) {
	short, why := d.cfg.Memory.short(s)
	d.life.Lock()
	defer d.life.Unlock()
	res := d.residents()
	ps := make([]parked, 0, len(res))
	for _, b := range res {
		ps = append(ps, parked{name: b.name, left: b.left})
	}
	overCap := 0
	if d.cfg.ResidentMax > 0 {
		overCap = len(res) - d.cfg.ResidentMax
	}
	for i, name := range evictions(ps, d.cfg.ResidentMax, short) {
		b := d.live(name)
		if b == nil || !d.isResident(b) {
			continue
		}
		reason := why
		if i < overCap {
			reason = fmt.Sprintf("more than --resident-max %d resident instances", d.cfg.ResidentMax)
		}
		d.log.Warn("stopping the least recently used resident instance", "instance", name, "why", reason, "left the console", b.left.Format(time.RFC3339))
		if err := d.stop(b, false, d.cfg.StopTimeout); err != nil {
			d.log.Error("stop resident instance", "instance", name, "err", err)
		}
	}
}

// watchMemory checks memory on every PSI event and every memoryCheckEvery
// while resident instances exist, then ends.
func (d *Daemon) watchMemory() {
	trig := psiTrigger(d.cfg.Memory.Pressure)
	if trig >= 0 {
		defer unix.Close(trig)
	}
	for {
		fired := waitPSI(trig, memoryCheckEvery)
		d.mu.Lock()
		if len(d.resident) == 0 {
			d.memWatching = false
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		s := sampleMemory()
		s.Triggered = fired
		d.evict(s)
	}
}

// psiTrigger opens a PSI trigger on memory: the kernel wakes a poller
// when tasks stall on memory pct percent of psiWindow
// (Documentation/accounting/psi.rst). -1 when the kernel has no PSI.
func psiTrigger(pct float64) int {
	fd, err := unix.Open("/proc/pressure/memory", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	stall := time.Duration(pct / 100 * float64(psiWindow))
	if _, err := unix.Write(fd, fmt.Appendf(nil, "some %d %d\x00", stall.Microseconds(), psiWindow.Microseconds())); err != nil {
		unix.Close(fd)
		return -1
	}
	return fd
}

// waitPSI waits up to timeout for the trigger (POLLPRI) and says whether
// it fired.
func waitPSI(fd int, timeout time.Duration) bool {
	if fd < 0 {
		time.Sleep(timeout)
		return false
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
	n, err := unix.Poll(fds, int(timeout.Milliseconds()))
	return err == nil && n > 0 && fds[0].Revents&unix.POLLPRI != 0
}
