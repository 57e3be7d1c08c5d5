package daemon

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// screens moves the console's VTs with `switch` (daemon/console does it
// on the machine's VTs). Leave is called while the departing instance
// still runs: its display server must answer the release. It returns the
// instance's console as it left it; Arrive puts back what Leave returned
// (nil for a boot: the home VT), before a resident instance's thaw, after
// a boot.
type screens interface {
	Leave(name string, to any) any
	Arrive(name string, saved any)
}

// noScreens is the daemon that does not own the console (--hotkey=false).
type noScreens struct{}

func (noScreens) Leave(string, any) any { return nil }
func (noScreens) Arrive(string, any)    {}

func (d *Daemon) cmdSwitch(c *call) (any, error) {
	name := c.args[0]
	return d.checked(name, false, func() error { return d.transition(name, "switch", planSwitch) })
}

// transition runs the steps of plan (planRun or planSwitch) that give
// name the console; why is who asked, for a boot's history. It ends the
// boot menu first: whoever gave an instance the console decided.
func (d *Daemon) transition(name, why string, plan func(front string, frozen bool, name string, resident bool) []step) error {
	if _, err := d.store.Instance(name); err != nil {
		return err
	}
	d.closeMenu()
	err := func() error {
		d.life.Lock()
		defer d.life.Unlock()
		// Claimed while it boots, so that rm or commit cannot start
		// meanwhile; once it runs, they see it running.
		if err := d.claim(name, "run"); err != nil {
			return err
		}
		defer d.release(name)
		b := d.current()
		t := d.live(name)
		steps := plan(activeName(b), b != nil && d.isFrozen(b), name, t != nil && t != b)
		for _, s := range steps {
			if err := d.runStep(s, b, t, name, why); err != nil {
				return err
			}
		}
		return nil
	}()
	d.saveOrder()
	// Off the request's path: an eviction stops another instance, which
	// the one who asked for this switch need not wait for.
	spawn(d.log, "memory policy", d.enforceResidents)
	return err
}

// runStep does one step: b is the instance in front before the
// transition, t the live instance name (nil when stopped).
func (d *Daemon) runStep(s step, b, t *boot, name, why string) error {
	switch s {
	case stepEndConsole:
		d.endConsole()
	case stepThaw:
		return d.thaw(b)
	case stepStopOther:
		if err := d.stop(b, false, d.cfg.StopTimeout); err != nil {
			return fmt.Errorf("stop %s first: %w", b.name, err)
		}
	case stepPark:
		var to any
		if t != nil {
			to = t.screen
		}
		return d.park(b, to)
	case stepResume:
		err := d.resume(t)
		if err != nil {
			d.giveBack(b)
		}
		return err
	case stepBoot:
		err := d.start(name, why)
		if err != nil {
			d.giveBack(b)
		}
		return err
	}
	return nil
}

// giveBack resumes b, the instance a transition put aside, when the
// arriving one failed to thaw or to boot: b comes back rather than leave
// the console to nobody.
func (d *Daemon) giveBack(b *boot) {
	if b == nil || !d.isResident(b) {
		return
	}
	if err := d.resume(b); err != nil {
		d.log.Error("give the console back after a failed switch", "instance", b.name, "err", err)
	}
}

// park switches the console away from b (toward to, the arriving
// instance's console), freezes b and keeps it resident. A freeze that
// fails gives b its console back and fails the switch.
func (d *Daemon) park(b *boot, to any) error {
	start := time.Now()
	screen := d.screens.Leave(b.name, to)
	if !d.isFrozen(b) {
		if _, err := d.freeze(b, freezeTimeout, "switch"); err != nil {
			d.screens.Arrive(b.name, screen)
			return fmt.Errorf("freeze %s to keep it resident: %w", b.name, err)
		}
	}
	d.mu.Lock()
	b.frozenBy, b.left, b.screen = "switch", time.Now(), screen
	d.active = nil
	d.resident[b.name] = b
	d.mu.Unlock()
	d.log.Info("state", "instance", b.name, "state", Resident, "took", time.Since(start))
	return nil
}

// resume gives the resident t the console and thaws it. The console is
// put back while t is still frozen, so nothing t draws as it wakes races
// the restore of its screen. A display server holding t's VT gets the
// kernel's acquire signal as it thaws, and reacquires then.
func (d *Daemon) resume(t *boot) error {
	start := time.Now()
	d.mu.Lock()
	screen := t.screen
	d.mu.Unlock()
	d.screens.Arrive(t.name, screen)
	if err := d.thaw(t); err != nil {
		return fmt.Errorf("thaw %s: %w", t.name, err)
	}
	d.mu.Lock()
	// Its init may have ended while it was frozen (killed: SIGKILL
	// reaches frozen tasks), and its boot finished meanwhile.
	gone := d.resident[t.name] != t
	if !gone {
		delete(d.resident, t.name)
		d.active = t
	}
	d.mu.Unlock()
	if gone {
		return fmt.Errorf("instance %s ended while resident", t.name)
	}
	d.log.Info("state", "instance", t.name, "state", Running, "resumed", true, "took", time.Since(start))
	return nil
}

// live returns the boot of name if it is alive: in front or resident.
func (d *Daemon) live(name string) *boot {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.liveLocked(name)
}

func (d *Daemon) liveLocked(name string) *boot {
	if d.active != nil && d.active.name == name {
		return d.active
	}
	return d.resident[name]
}

func (d *Daemon) isResident(b *boot) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.resident[b.name] == b
}

// residents returns the resident instances, least recently in front first.
func (d *Daemon) residents() []*boot {
	d.mu.Lock()
	defer d.mu.Unlock()
	res := slices.Collect(maps.Values(d.resident))
	slices.SortFunc(res, func(a, b *boot) int { return a.left.Compare(b.left) })
	return res
}

// stopAll stops every live instance gracefully, all at once: the one in
// front and the resident ones (each thawed, then asked to power off).
// Called with d.life held.
func (d *Daemon) stopAll(why string) {
	all := d.residents()
	if b := d.current(); b != nil {
		all = append(all, b)
	}
	var wg sync.WaitGroup
	for _, b := range all {
		wg.Add(1)
		spawn(d.log, "stop "+b.name, func() {
			defer wg.Done()
			if err := d.stop(b, false, d.cfg.StopTimeout); err != nil {
				d.log.Error("stop before "+why, "instance", b.name, "err", err)
			}
		})
	}
	wg.Wait()
}

// saveOrder records in the store which instance has the console and which
// are resident, for a restarted daemon's adoption. Off the switch's path:
// the write is synced, which costs more than the switch itself; the
// writes are serialized and each writes the state of its time, so the
// last one written is the last state.
func (d *Daemon) saveOrder() {
	spawn(d.log, "console order", func() {
		d.orderMu.Lock()
		defer d.orderMu.Unlock()
		res := d.residents()
		names := make([]string, 0, len(res))
		for _, r := range slices.Backward(res) {
			names = append(names, r.name)
		}
		if err := d.store.SetConsoleOrder(activeName(d.current()), names); err != nil {
			d.log.Error("console order", "err", err)
		}
	})
}
