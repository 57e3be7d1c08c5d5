package daemon

import (
	"context"
	"errors"
	"os"
	"strings"

	"initns/daemon/menu"
	"initns/daemon/pid1"
)

// showMenu shows the boot menu of p on the console and boots what it
// chooses. A console that is no terminal, or the one where initns.shell=
// keeps a shell, gets no menu: then the daemon boots p.boot as if none was
// asked. A client's `run` meanwhile ends the menu (closeMenu).
func (d *Daemon) showMenu(p startPlan) {
	if reason := d.menuTerminalTaken(); reason != "" {
		d.log.Warn("no boot menu", "console", d.cfg.Console, "why", reason)
		d.bootPlanned(p)
		return
	}
	term, err := menu.Open(d.cfg.Console)
	if err != nil {
		d.log.Warn("no boot menu", "err", err)
		d.bootPlanned(p)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	d.mu.Lock()
	d.endMenu = func() { cancel(); <-done }
	d.mu.Unlock()
	d.log.Info("boot menu", "console", d.cfg.Console, "default", p.def, "seconds", p.seconds, "note", p.note)
	m := menu.New(d.menuEntries(), p.def, p.seconds, p.note)
	a, err := menu.Run(ctx, term, m, func(ctx context.Context) error { return pid1.RunShell(ctx, d.cfg.Console) })
	// Restored before anything boots: an instance's init gets the console
	// as the kernel left it.
	if cerr := term.Close(); cerr != nil {
		d.log.Error("boot menu", "err", cerr)
	}
	d.mu.Lock()
	d.endMenu = nil
	d.mu.Unlock()
	close(done)
	cancel()
	switch {
	case errors.Is(err, context.Canceled):
		d.log.Info("boot menu ended by a request")
	case err != nil:
		d.log.Error("boot menu: the console failed; booting without it", "err", err)
		d.bootPlanned(p)
	case a.Kind == menu.Boot:
		d.log.Info("boot menu chose", "instance", a.Name, "countdown", a.Auto)
		why := "menu"
		if a.Auto {
			why = p.why
		}
		if err := d.run(a.Name, why); err != nil {
			d.log.Error("boot from the menu", "instance", a.Name, "err", err)
		}
	}
}

// bootPlanned boots what the plan counts down to, if anything: the menu
// was not there to ask. A failed instance is never in a plan's boot.
func (d *Daemon) bootPlanned(p startPlan) {
	if p.boot == "" {
		return
	}
	if err := d.run(p.boot, p.why); err != nil {
		d.log.Error("boot at start", "instance", p.boot, "err", err)
	}
}

// closeMenu ends the boot menu if it shows, once its console is restored.
func (d *Daemon) closeMenu() {
	d.mu.Lock()
	end := d.endMenu
	d.mu.Unlock()
	if end != nil {
		end()
	}
}

// menuTerminalTaken says why the console cannot have the menu: it is the
// terminal where initns.shell= keeps a host shell (both would read the
// same keys), directly or as /dev/console.
func (d *Daemon) menuTerminalTaken() string {
	sh := d.cfg.Boot.Shell
	if sh == "" {
		return ""
	}
	sh = strings.TrimPrefix(sh, "/dev/")
	con := strings.TrimPrefix(d.cfg.Console, "/dev/")
	if con == sh {
		return "the host shell of initns.shell= is there"
	}
	if con == "console" {
		active, _ := os.ReadFile("/sys/class/tty/console/active")
		for _, w := range strings.Fields(string(active)) {
			if w == sh {
				return "the console is " + sh + ", where initns.shell= keeps a host shell"
			}
		}
	}
	return ""
}

// menuEntries lists the instances with their last boot.
func (d *Daemon) menuEntries() []menu.Entry {
	insts, err := d.store.Instances()
	if err != nil {
		d.log.Error("boot menu: list instances", "err", err)
	}
	out := make([]menu.Entry, 0, len(insts))
	for _, i := range insts {
		ev := d.events(i.Name)
		t := tallyOf(ev)
		out = append(out, menu.Entry{Name: i.Name, Image: i.Image, Last: lastLine(t), Boots: describeBoots(ev, 12), Failed: t.failed})
	}
	return out
}
