package daemon

import (
	"fmt"
	"time"

	"initns/proto"
	"initns/store"
)

// The boot history and fallback (README, "Boot menu, fallback, history"):
// every boot and end goes to the history; an instance whose init ends too
// soon after its boot Tries times in a row is marked failed, and then the
// fallback boots, or the menu shows naming the failure. A boot the daemon
// made on its own is tried again until then; nothing loops.

// record adds e to the history durably (a mark, a good boot, a removal);
// a failed write is logged (newDaemon sets OnError): the history informs,
// it never stops anything.
func (d *Daemon) record(e store.Event) {
	if d.hist != nil {
		d.hist.Append(e)
	}
}

// recordBoot records b's boot without waiting for the disk (run answers
// meanwhile), and a good boot, durably, once it has run for the window:
// from then on it has cleared its count, even if the machine loses power
// before it ends.
func (d *Daemon) recordBoot(b *boot) {
	if d.hist != nil {
		d.hist.Record(store.Event{Time: b.started, Instance: b.name, Kind: store.EventBoot, Why: b.why})
	}
	within := d.cfg.Boot.FailWithin
	b.good = time.AfterFunc(within, func() {
		spawn(d.log, "good boot of "+b.name, func() {
			select {
			case <-b.done:
			default:
				d.record(store.Event{Instance: b.name, Kind: store.EventGood})
			}
		})
	})
}

// recordEnd records the end of b and returns whether it was too soon.
func (d *Daemon) recordEnd(b *boot, ended string) bool {
	if b.good != nil {
		b.good.Stop()
	}
	d.mu.Lock()
	stopping := b.stopping
	d.mu.Unlock()
	var ran time.Duration
	if !b.started.IsZero() {
		ran = time.Since(b.started)
	}
	quick := isQuick(stopping, ended, b.started, ran, d.cfg.Boot.FailWithin)
	// Behind the end, as the boot: a stop waits for the end, not for the
	// disk. The daemon flushes the history before it exits.
	if d.hist != nil {
		d.hist.Record(store.Event{Instance: b.name, Kind: store.EventEnd, How: howEnded(stopping, ended), Ran: ran, Quick: quick})
	}
	return quick
}

// failedBeforeExec records a boot that never reached its init's exec: a
// failed try like any other. What follows runs apart, as the caller holds
// d.life.
func (d *Daemon) failedBeforeExec(name, why string, err error) {
	d.record(store.Event{Instance: name, Kind: store.EventBoot, Why: why})
	d.record(store.Event{Instance: name, Kind: store.EventEnd, How: "failed before exec: " + err.Error(), Quick: true})
	d.mu.Lock()
	d.ended[name] = "failed before exec"
	d.mu.Unlock()
	spawn(d.log, "after the failed boot of "+name, func() { d.afterEnd(name, why, true, false) })
}

// afterEnd decides what follows an end: too soon Tries times in a row
// marks the instance failed and hands the machine to the fallback or the
// menu; a boot the daemon made on its own that ended too soon is tried
// again; a reboot inside boots it again.
func (d *Daemon) afterEnd(name, why string, quick, restart bool) {
	if quick {
		t := tallyOf(d.events(name))
		if t.failed == "" && t.quick >= d.cfg.Boot.Tries {
			reason := failReason(t.quick, d.cfg.Boot.FailWithin, t.last.How)
			d.record(store.Event{Instance: name, Kind: store.EventFailed, Why: reason})
			// A warning: what the daemon does about it follows, and the
			// menu, if any, names it; errors are for what it could not do.
			d.log.Warn("instance failed", "instance", name, "reason", reason)
			d.onFailed(name, reason)
			return
		}
		if why == "menu" {
			d.backToMenu(name, t.last.How)
			return
		}
		if t.failed != "" {
			return
		}
		if automatic(why) && !restart {
			d.log.Warn("ended too soon; trying again", "instance", name, "try", t.quick, "of", d.cfg.Boot.Tries)
			d.rebootInstance(name, "retry")
			return
		}
	}
	if restart {
		d.rebootInstance(name, "reboot")
	}
}

// onFailed hands the machine on after name was marked failed, at machine
// start only (a daemon on a booted host leaves that to the person): the
// fallback if one is set and not failed itself, else the menu naming the
// failure, which counts down to nothing.
func (d *Daemon) onFailed(name, reason string) {
	if !d.cfg.Boot.Start || d.current() != nil {
		return
	}
	bs, err := d.store.BootSettings()
	if err != nil {
		d.log.Error("boot settings", "err", err)
	}
	note := name + " is marked failed: " + reason + "."
	if fb := bs.Fallback; fb != "" && fb != name && d.failure(fb) == "" {
		d.log.Info("booting the fallback", "instance", fb, "failed", name)
		if err := d.run(fb, "fallback"); err != nil {
			d.log.Error("boot the fallback", "instance", fb, "err", err)
		}
		return
	}
	d.showMenu(startPlan{def: bs.Default, menu: true, note: note + " Choose another, or fix it from the host shell (s)."})
}

// backToMenu shows the menu again, at machine start, when the instance a
// person chose there ended too soon: they see how, and choose again.
func (d *Daemon) backToMenu(name, how string) {
	if !d.cfg.Boot.Start || d.current() != nil {
		return
	}
	bs, _ := d.store.BootSettings()
	d.showMenu(startPlan{def: bs.Default, menu: true, note: name + " ended too soon after its boot: " + how + "."})
}

// events is one instance's history, oldest first.
func (d *Daemon) events(name string) []store.Event {
	if d.hist == nil {
		return nil
	}
	return d.hist.Events(name)
}

// failure is why name is marked failed, or "".
func (d *Daemon) failure(name string) string { return tallyOf(d.events(name)).failed }

// bootAtStart is the machine's start: the menu if asked (or if there is
// nothing to boot), else the instance of initns.run= or the stored
// default, or its fallback if that one is marked failed.
func (d *Daemon) bootAtStart() {
	bs, err := d.store.BootSettings()
	if err != nil {
		d.log.Error("boot settings", "err", err)
	}
	name := d.cfg.Boot.Run
	if name == "" {
		name = bs.Default
	} else if _, err := d.store.Instance(name); err != nil {
		d.showMenu(startPlan{menu: true, note: "initns.run=" + name + ": " + err.Error() + "."})
		return
	}
	seconds := d.cfg.Boot.Menu
	if seconds < 0 {
		seconds = bs.Menu
	}
	p := planStart(name, bs.Fallback, seconds, d.failure)
	if p.note != "" {
		d.log.Warn("at start", "note", p.note)
	}
	if p.menu {
		d.showMenu(p)
		return
	}
	if err := d.run(p.boot, p.why); err != nil {
		d.log.Error("boot at start", "instance", p.boot, "why", p.why, "err", err)
	}
}

// cmdDebugStart does again, in the background, what the daemon does at
// machine start (test-only: initns.debug=1).
func (d *Daemon) cmdDebugStart(c *call) (any, error) {
	d.mu.Lock()
	menu := d.endMenu != nil
	d.mu.Unlock()
	if d.current() != nil || menu {
		return nil, fmt.Errorf("an instance or the boot menu has the console: %w: stop it first", proto.ErrUsage)
	}
	spawn(d.log, "boot at start, again", d.bootAtStart)
	return nil, nil
}

// flushHistory waits for the history's writes, before the daemon exits.
func (d *Daemon) flushHistory() {
	if d.hist != nil {
		d.hist.Flush()
	}
}
