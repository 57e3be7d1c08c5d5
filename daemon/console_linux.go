package daemon

import (
	"context"
	"errors"
	"time"

	"initns/daemon/console"
	"initns/hotkey"
)

// consoleHost is the daemon as package console sees it: the console
// freezes the running instance when Ctrl+Alt+J opens the host shell, and
// thaws it when the shell is left.
type consoleHost struct{ d *Daemon }

// FreezeRunning freezes the running instance for the console. An instance
// frozen already (by `freeze` or a commit) stays as it is, and stays theirs.
func (h consoleHost) FreezeRunning(timeout time.Duration) (string, []string, error) {
	d := h.d
	d.life.Lock()
	defer d.life.Unlock()
	b := d.current()
	if b == nil {
		return "", nil, nil
	}
	if d.isFrozen(b) {
		return b.name, nil, nil
	}
	stuck, err := d.freeze(b, timeout, "console")
	if errors.Is(err, ErrFreezeTimeout) {
		err = nil // the shell opens anyway, naming the stuck tasks
	}
	return b.name, stuck, err
}

// ThawFrozen thaws name after the shell was left, if the console's freeze
// is still in effect.
func (h consoleHost) ThawFrozen(name string) error {
	d := h.d
	d.life.Lock()
	defer d.life.Unlock()
	b := d.current()
	if b == nil || b.name != name || d.frozenBy(b) != "console" {
		return nil
	}
	return d.thaw(b)
}

// consoleScreens moves the machine's VTs with `switch`.
type consoleScreens struct{ m *console.Manager }

func (c consoleScreens) Leave(name string, to any) any {
	s, _ := to.(*console.Screen)
	return c.m.Leave(name, s)
}

func (c consoleScreens) Arrive(name string, saved any) {
	s, _ := saved.(*console.Screen)
	c.m.Arrive(name, s)
}

// cycle gives the console to the next (or previous) live instance, as
// `switch` does: the cycling chord.
func (d *Daemon) cycle(forward bool) {
	insts, _ := d.store.Instances()
	var live []string
	for _, i := range insts {
		if d.live(i.Name) != nil {
			live = append(live, i.Name)
		}
	}
	name := cycleTarget(live, activeName(d.current()), forward)
	if name == "" {
		d.log.Info("cycling chord: no other live instance")
		return
	}
	d.log.Info("cycling chord", "to", name, "forward", forward)
	if err := d.transition(name, "switch", planSwitch); err != nil {
		d.log.Error("cycling chord", "to", name, "err", err)
	}
}

// startConsole watches the keyboards for Ctrl+Alt+J and runs the host
// shell on VT63 (SPEC §7), until ctx is done. The channel it returns is
// closed once the watching has ended and the chords are given back to
// the keymap.
func (d *Daemon) startConsole(ctx context.Context) <-chan struct{} {
	cfg := console.Config{ChordKeys: []uint16{hotkey.ShellKey}}
	next, prev, err := hotkey.ParseSwitchKeys(d.cfg.SwitchKeys)
	if err != nil {
		d.log.Error("switch keys: no cycling chord", "err", err)
	} else {
		cfg.ChordKeys = append(cfg.ChordKeys, next, prev)
	}
	m := console.New(consoleHost{d}, d.log, cfg)
	d.endShell = m.EndShell
	d.screens = consoleScreens{m}
	w := &hotkey.Watcher{Dir: "/dev/input", Fire: func() { spawn(d.log, "console", m.Chord) }, Log: d.log}
	if err == nil {
		w.NextKey, w.PrevKey = next, prev
		w.Cycle = func(a hotkey.Action) {
			spawn(d.log, "cycle", func() {
				m.TakeChords() // also when there is nothing to cycle to
				d.cycle(a == hotkey.Next)
			})
		}
	}
	m.TakeChords()
	done := make(chan struct{})
	spawn(d.log, "hotkey", func() {
		defer close(done)
		defer m.GiveBackChords()
		if err := w.Run(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("hotkey", "err", err)
		}
	})
	return done
}
