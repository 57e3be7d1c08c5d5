package daemon

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"initns/cgroupfs"
	"initns/initsys"
	"initns/nsexec"
	"initns/reaper"
)

// cleanupTimeout bounds how long a killed instance may take to leave its
// cgroup before the daemon gives up and reports the tasks still inside.
const cleanupTimeout = 10 * time.Second

// boot is one boot of one instance: from clone to the exit of its init.
type boot struct {
	name    string
	group   *cgroupfs.Group
	pid     int // host pid of the instance's init
	pidfd   int
	done    chan struct{} // closed once init has exited and the cgroup is gone
	why     string        // who asked for the boot: run, default, menu, fallback, reboot, retry
	started time.Time     // zero for an adopted boot
	good    *time.Timer

	// Guarded by Daemon.mu.
	stopping bool // a stop was asked: a reboot must not restart it
	frozen   bool
	frozenBy string    // who froze it: "freeze", "commit", "console" or "switch"
	err      error     // cleanup failure, once done
	left     time.Time // when it last left the console (resident ones)
	screen   any       // its console as it left it, for screens.Arrive
}

// current returns the instance holding the machine, or nil.
func (d *Daemon) current() *boot {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.active
}

// start boots name for why (who asked: see boots_linux.go). Called with
// d.life held and no instance active.
func (d *Daemon) start(name, why string) error {
	d.detectInit(name)
	g := d.parent.Group(name)
	if err := g.Create(); err != nil {
		return err
	}
	fd, err := g.OpenDir()
	if err != nil {
		g.Remove()
		return err
	}
	defer unix.Close(fd)
	in, _ := d.store.Instance(name)
	proc, err := nsexec.Start(nsexec.Config{
		Rootfs:   d.store.RootfsPath(name),
		CgroupFD: fd,
		Console:  d.cfg.Console,
		ReadOnly: d.lend(name),
		Env:      initEnv(in),
	})
	if err != nil {
		if derr := g.Destroy(cleanupTimeout); derr != nil {
			d.log.Error("remove cgroup after failed boot", "instance", name, "err", derr)
		}
		d.failedBeforeExec(name, why, err)
		return err
	}
	b := &boot{name: name, group: g, pid: proc.Pid, pidfd: proc.PidFD, done: make(chan struct{}), why: why, started: time.Now()}
	d.recordBoot(b)
	d.mu.Lock()
	d.active = b
	d.mu.Unlock()
	d.log.Info("state", "instance", name, "state", Running, "pid", proc.Pid)
	spawn(d.log, "watch "+name, func() { d.watch(b, proc.Exit) })
	return nil
}

// watch waits for the instance's init to exit, removes its cgroup, records
// how it ended, and boots it again if it rebooted itself.
func (d *Daemon) watch(b *boot, exit <-chan reaper.Exit) {
	e := <-exit
	d.finish(b, describeExit(e), isReboot(e.Status))
}

// finish records the end of a boot. restart asks for a new boot (the
// instance rebooted itself) unless a stop was asked for.
func (d *Daemon) finish(b *boot, ended string, restart bool) {
	err := b.group.Destroy(cleanupTimeout)
	if err != nil {
		err = fmt.Errorf("the instance's cgroup %s could not be emptied and removed: %w (a task stuck in the kernel, often on a hung FUSE or network mount; the cgroup is removed at the next run)", b.group.Path, err)
		d.log.Error("cleanup", "instance", b.name, "err", err)
	}
	if b.pidfd >= 0 {
		unix.Close(b.pidfd)
	}
	d.mu.Lock()
	if d.active == b {
		d.active = nil
	}
	if d.resident[b.name] == b {
		delete(d.resident, b.name)
	}
	restart = restart && !b.stopping
	b.err = err
	d.ended[b.name] = ended
	d.mu.Unlock()
	quick := d.recordEnd(b, ended)
	close(b.done)
	d.log.Info("state", "instance", b.name, "state", Stopped, "ended", ended)
	d.measure(b.name)
	d.afterEnd(b.name, b.why, quick, restart)
}

// rebootInstance boots an instance again for why (it rebooted itself, or
// a failed try), unless something else took the machine meanwhile.
func (d *Daemon) rebootInstance(name, why string) {
	d.life.Lock()
	defer d.life.Unlock()
	if d.current() != nil || d.claim(name, "reboot") != nil {
		return
	}
	defer d.release(name)
	if err := d.start(name, why); err != nil {
		d.log.Error("boot again", "instance", name, "why", why, "err", err)
	}
}

// stop stops b: gracefully (thaw, halt signal, wait up to timeout) unless
// kill, then kills the whole cgroup. Called with d.life held.
func (d *Daemon) stop(b *boot, kill bool, timeout time.Duration) error {
	d.mu.Lock()
	b.stopping = true
	d.mu.Unlock()
	// Ask the kernel, not our own record: an instance may freeze itself.
	if frozen, _ := b.group.Frozen(); frozen || d.isFrozen(b) {
		if d.current() == b {
			d.endConsole()
		}
		if err := d.thaw(b); err != nil {
			d.log.Warn("thaw before stop", "instance", b.name, "err", err)
		}
	}
	if !kill {
		halt := d.haltRequest(b.name)
		err := initsys.Ask(initsys.Target{Pid: b.pid, PidFD: b.pidfd}, halt)
		if errors.Is(err, initsys.ErrNotTold) {
			d.log.Warn("asked to power off, but its shutdown may turn off the machine's swap and detach its unused loop, device-mapper and MD devices", "instance", b.name, "err", err)
			err = nil
		}
		if err == nil {
			d.log.Info("asked to power off", "instance", b.name, "how", halt.String())
			select {
			case <-b.done:
				return b.err
			case <-time.After(timeout):
				d.log.Info("graceful stop timed out; killing", "instance", b.name, "timeout", timeout)
			}
		} else {
			d.log.Warn("could not ask the init to power off; killing", "instance", b.name, "how", halt.String(), "err", err)
		}
	}
	if err := b.group.Kill(); err != nil && !errors.Is(err, unix.ENOENT) {
		d.log.Warn("kill", "instance", b.name, "err", err)
	}
	select {
	case <-b.done:
		return b.err
	case <-time.After(cleanupTimeout):
		return fmt.Errorf("instance %s did not end within %v of SIGKILL; tasks still alive: %s (a task stuck in the kernel, often on a hung FUSE or network mount, or frozen by a cgroup v1 freezer: resolve that and stop it again)",
			b.name, cleanupTimeout, strings.Join(b.group.Tasks(), ", "))
	}
}

// ErrFreezeTimeout means the kernel did not confirm a freeze in time; the
// freeze was undone.
var ErrFreezeTimeout = errors.New("did not freeze in time (freeze undone)")

// freeze freezes b for by, waiting up to timeout for the kernel to confirm.
// On timeout the freeze is undone and the tasks that would not freeze are
// returned, with an error wrapping ErrFreezeTimeout.
func (d *Daemon) freeze(b *boot, timeout time.Duration, by string) ([]string, error) {
	if err := b.group.Freeze(timeout); err != nil {
		stuck := b.group.Tasks()
		if terr := b.group.Thaw(timeout); terr != nil {
			d.log.Error("undo freeze", "instance", b.name, "err", terr)
		}
		if errors.Is(err, cgroupfs.ErrTimeout) {
			err = fmt.Errorf("instance %s %w; tasks that would not freeze: %s", b.name, ErrFreezeTimeout, strings.Join(stuck, ", "))
		}
		return stuck, err
	}
	d.mu.Lock()
	b.frozen, b.frozenBy = true, by
	d.mu.Unlock()
	d.log.Info("state", "instance", b.name, "state", Frozen, "by", by)
	return nil, nil
}

// thaw thaws b and waits for the kernel to confirm.
func (d *Daemon) thaw(b *boot) error {
	if err := b.group.Thaw(cleanupTimeout); err != nil {
		return err
	}
	d.mu.Lock()
	b.frozen = false
	d.mu.Unlock()
	d.log.Info("state", "instance", b.name, "state", Running)
	return nil
}

// isReboot tells a reboot inside the instance: the kernel ends a PID
// namespace's init with SIGHUP for reboot(2) RESTART (SIGINT for poweroff
// and halt).
func isReboot(ws unix.WaitStatus) bool {
	return ws.Signaled() && ws.Signal() == unix.SIGHUP
}

// describeExit says how init ended, for `ls`: the kernel's reboot and
// poweroff of a PID namespace by name, anything else as the reaper says it.
func describeExit(e reaper.Exit) string {
	switch {
	case isReboot(e.Status):
		return "rebooted"
	case e.Status.Signaled() && e.Status.Signal() == unix.SIGINT:
		return "powered off"
	}
	return e.String()
}
