package daemon

import (
	"fmt"
	"strconv"
	"strings"

	"initns/proto"
	"initns/store"
)

// The commands of the boot settings and the boot history.

// cmdDefault shows the boot settings (the default instance's name, then
// fallback=NAME and menu=SECONDS when set) or changes them: NAME sets the
// default ("" clears it), fallback=NAME (none clears it) and menu=SECONDS
// the rest; all or nothing.
func (d *Daemon) cmdDefault(c *call) (any, error) {
	if len(c.args) == 0 {
		b, err := d.store.BootSettings()
		return showBootSettings(b), err
	}
	change, err := parseDefaultArgs(c.args)
	if err != nil {
		return nil, err
	}
	return nil, d.store.UpdateBootSettings(change)
}

func showBootSettings(b store.BootSettings) []string {
	lines := []string{}
	if b.Default != "" {
		lines = append(lines, b.Default)
	}
	if b.Fallback != "" {
		lines = append(lines, "fallback="+b.Fallback)
	}
	if b.Menu >= 0 {
		lines = append(lines, "menu="+strconv.Itoa(b.Menu))
	}
	return lines
}

// parseDefaultArgs reads `default` words into a change of the settings:
// at most one NAME (a word without '='), fallback= and menu= once each.
func parseDefaultArgs(args []string) (func(*store.BootSettings) error, error) {
	var name, fallback, menu *string
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		slot := &name
		switch {
		case !ok:
			v = a
		case k == "fallback":
			slot = &fallback
		case k == "menu":
			slot = &menu
		default:
			return nil, fmt.Errorf("default %s: %w: say NAME, fallback=NAME|none or menu=SECONDS", a, proto.ErrUsage)
		}
		if *slot != nil {
			return nil, fmt.Errorf("default: %q given twice: %w", a, proto.ErrUsage)
		}
		*slot = &v
	}
	secs := -1
	if menu != nil {
		n, err := strconv.Atoi(*menu)
		if err != nil || n < 0 || n > store.MaxMenuSeconds {
			return nil, fmt.Errorf("default menu=%s: %w: say the countdown in seconds, 0 (no menu) to %d", *menu, proto.ErrUsage, store.MaxMenuSeconds)
		}
		secs = n
	}
	return func(b *store.BootSettings) error {
		if name != nil {
			b.Default = *name
		}
		if fallback != nil {
			b.Fallback = *fallback
			if b.Fallback == "none" {
				b.Fallback = ""
			}
		}
		if menu != nil {
			b.Menu = secs
		}
		return nil
	}, nil
}

// cmdHistory is the boot history, oldest first: every instance's, or
// NAME's (which may be removed by now).
func (d *Daemon) cmdHistory(c *call) (any, error) {
	name := ""
	if len(c.args) == 1 {
		name = c.args[0]
		if err := store.ValidInstanceName(name); err != nil {
			return nil, err
		}
	}
	out := []proto.Event{}
	for _, e := range d.events(name) {
		out = append(out, proto.Event{Time: e.Time, Instance: e.Instance, Kind: e.Kind, Why: e.Why, How: e.How, Ran: e.Ran, Quick: e.Quick})
	}
	return out, nil
}

// tallies reads each instance's tries from the history, for ls (before
// it takes d.mu: the history may be in the middle of a write).
func (d *Daemon) tallies(insts []store.Instance) map[string]tally {
	out := make(map[string]tally, len(insts))
	for _, i := range insts {
		out[i.Name] = tallyOf(d.events(i.Name))
	}
	return out
}

// lastBoot fills ls's row with how the instance's last boot ended, from
// the history when this daemon has not seen it end, and its failed mark.
func lastBoot(row *proto.Instance, t tally) {
	if row.Ended == "" && t.last.Kind != "" {
		row.Ended = t.last.How
	}
	row.Failed = t.failed
}
