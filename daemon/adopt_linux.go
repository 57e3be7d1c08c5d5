package daemon

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"

	"initns/daemon/internal/procstatus"
)

// adopt takes over what a previous daemon left in the parent cgroup: the
// instance still running or frozen there is found from its cgroup and
// watched through a pidfd; any other cgroup (empty, unknown, or a second
// instance, which the one-at-a-time rule forbids) is killed and removed.
func (d *Daemon) adopt() {
	names, err := d.parent.Children()
	if err != nil {
		d.log.Error("adopt", "err", err)
		return
	}
	for _, name := range names {
		g := d.parent.Group(name)
		if _, err := d.store.Instance(name); err == nil && d.current() == nil {
			err := d.adoptOne(name)
			if err == nil {
				continue
			}
			d.log.Warn("adopt", "instance", name, "err", err)
		}
		if err := g.Destroy(cleanupTimeout); err != nil {
			d.log.Error("remove leftover cgroup", "cgroup", g.Path, "err", err)
		}
	}
}

func (d *Daemon) adoptOne(name string) error {
	g := d.parent.Group(name)
	pid, ok := findInit(g.Pids())
	if !ok {
		return fmt.Errorf("no init of a PID namespace in %s", g.Path)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	frozen, _ := g.Frozen()
	b := &boot{name: name, group: g, pid: pid, pidfd: pidfd, frozen: frozen, done: make(chan struct{})}
	d.mu.Lock()
	d.active = b
	d.mu.Unlock()
	d.log.Info("adopted", "instance", name, "pid", pid, "frozen", frozen)
	spawn(d.log, "watch "+name, func() { d.watchPidfd(b) })
	return nil
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
