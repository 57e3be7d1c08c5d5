package daemon

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"initns/daemon/internal/procstatus"
)

// adopt takes over what a previous daemon left in the parent cgroup: every
// instance still alive there (the one in front, and resident ones put
// aside by switch) is found from its cgroup and watched through a pidfd;
// any other cgroup (empty, or of no registered instance) is killed and
// removed. Which one had the console comes from the store's console
// order, else it is the one not frozen.
func (d *Daemon) adopt() {
	names, err := d.parent.Children()
	if err != nil {
		d.log.Error("adopt", "err", err)
		return
	}
	var found []*boot
	for _, name := range names {
		g := d.parent.Group(name)
		if _, err := d.store.Instance(name); err == nil {
			b, err := d.adoptOne(name)
			if err == nil {
				found = append(found, b)
				continue
			}
			d.log.Warn("adopt", "instance", name, "err", err)
		}
		if err := g.Destroy(cleanupTimeout); err != nil {
			d.log.Error("remove leftover cgroup", "cgroup", g.Path, "err", err)
		}
	}
	d.placeAdopted(found)
}

// placeAdopted puts the adopted instances back where they were: one in
// front, the others resident in their recorded order. An instance that
// runs but did not have the console (a switch interrupted by the
// daemon's death) is frozen: only the one in front runs.
func (d *Daemon) placeAdopted(found []*boot) {
	front, order, err := d.store.ConsoleOrder()
	if err != nil {
		d.log.Warn("adopt", "err", err)
	}
	var fb *boot
	for _, b := range found {
		if b.name == front || (fb == nil && front == "" && !b.frozen) {
			fb = b
		}
	}
	// Watched once placed: an init that exits meanwhile is then found
	// where finish looks for it.
	defer func() {
		for _, b := range found {
			spawn(d.log, "watch "+b.name, func() { d.watchPidfd(b) })
		}
	}()
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range found {
		if b == fb {
			d.active = b
			continue
		}
		// Most recently in front first in the order: later left times.
		i := slices.Index(order, b.name)
		if i < 0 {
			i = len(order)
		}
		b.left = now.Add(-time.Duration(i+1) * time.Millisecond)
		b.frozenBy = "switch"
		d.resident[b.name] = b
	}
	for _, b := range d.resident {
		if !b.frozen {
			d.log.Warn("adopt: a running instance without the console; freezing it, resident", "instance", b.name)
			spawn(d.log, "freeze adopted "+b.name, func() {
				if _, err := d.freeze(b, freezeTimeout, "switch"); err != nil {
					d.log.Error("freeze adopted instance", "instance", b.name, "err", err)
				}
			})
		}
	}
}

func (d *Daemon) adoptOne(name string) (*boot, error) {
	g := d.parent.Group(name)
	pid, ok := findInit(g.Pids())
	if !ok {
		return nil, fmt.Errorf("no init of a PID namespace in %s", g.Path)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	frozen, _ := g.Frozen()
	b := &boot{name: name, group: g, pid: pid, pidfd: pidfd, frozen: frozen, done: make(chan struct{})}
	d.log.Info("adopted", "instance", name, "pid", pid, "frozen", frozen)
	return b, nil
}

// watchPidfd waits for an adopted init, which is not the daemon's child,
// to exit: its pidfd becomes readable then. Its exit status is unknown.
func (d *Daemon) watchPidfd(b *boot) {
	fds := []unix.PollFd{{Fd: int32(b.pidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != unix.EINTR {
			break
		}
	}
	d.finish(b, "exited (adopted: status unknown)", false)
}

// findInit returns the instance's init among pids: PID 1 of the PID
// namespace the daemon made for the instance, a child of the daemon's own.
// /proc/PID/status lists a process's pid in every namespace from the
// daemon's down (NSpid), so the init's list is one longer than the
// daemon's and ends in 1. A PID 1 deeper down (unshare -p -f, Docker
// inside the instance) has a longer list: it is never taken, wherever the
// cgroup walk meets it.
func findInit(pids []int) (int, bool) {
	self, ok := procstatus.NSpid("self")
	if !ok {
		return 0, false
	}
	for _, pid := range pids {
		ns, ok := procstatus.NSpid(strconv.Itoa(pid))
		if ok && len(ns) == len(self)+1 && ns[len(ns)-1] == 1 {
			return pid, true
		}
	}
	return 0, false
}
