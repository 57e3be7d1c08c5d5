package daemon

import (
	"initns/proto"
	"initns/store"
)

// The commands of a stopped instance's life beyond new and rm: throw the
// changes away, copy it, rename it, see what it changed, and choose the
// instance booted at start.

func (d *Daemon) cmdReset(c *call) (any, error) {
	name := c.args[0]
	if err := d.claimStopped(name, "reset"); err != nil {
		return nil, err
	}
	defer d.release(name)
	defer d.measure(name)
	return nil, d.store.Reset(c.ctx, name, c.progress)
}

func (d *Daemon) cmdClone(c *call) (any, error) {
	src, dst, release, err := d.claimMove(c, "clone")
	if err != nil {
		return nil, err
	}
	defer release()
	defer d.measure(dst)
	return nil, d.store.Clone(c.ctx, src, dst, c.progress)
}

func (d *Daemon) cmdRename(c *call) (any, error) {
	old, name, release, err := d.claimMove(c, "rename")
	if err != nil {
		return nil, err
	}
	defer release()
	if err := d.store.Rename(old, name); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.ended[name], d.disk[name] = d.ended[old], d.disk[old]
	delete(d.ended, old)
	delete(d.disk, old)
	d.mu.Unlock()
	return nil, nil
}

// claimMove claims the two instances of a clone or a rename (op), from
// and to, its arguments: from must be stopped. The function it returns
// releases both. The store reserves the same names again in its own
// calls: the daemon's claim also covers the instances' running state,
// which the store knows nothing of.
func (d *Daemon) claimMove(c *call, op string) (from, to string, release func(), err error) {
	from, to = c.args[0], c.args[1]
	if err := d.claimStopped(from, op); err != nil {
		return "", "", nil, err
	}
	if err := d.claim(to, op); err != nil {
		d.release(from)
		return "", "", nil, err
	}
	return from, to, func() { d.release(to); d.release(from) }, nil
}

func (d *Daemon) cmdDiff(c *call) (any, error) {
	changes, err := d.store.Diff(c.ctx, c.args[0])
	if err != nil {
		return nil, err
	}
	out := make([]proto.Change, 0, len(changes))
	for _, ch := range changes {
		out = append(out, proto.Change{Path: ch.Path, Kind: string(ch.Kind)})
	}
	return out, nil
}

// kind names an instance's storage for ls.
func kind(i store.Instance) string {
	if i.Overlay {
		return "overlay"
	}
	return "plain"
}

// measure refreshes an instance's disk use for ls in the background:
// walking a tree is too slow for ls itself.
func (d *Daemon) measure(name string) {
	spawn(d.log, "disk use of "+name, func() {
		n, err := d.store.DiskUse(name)
		if err != nil {
			return
		}
		d.mu.Lock()
		d.disk[name] = n
		d.mu.Unlock()
	})
}

// measureAll measures every instance once, at start, one after another.
func (d *Daemon) measureAll() {
	insts, _ := d.store.Instances()
	for _, i := range insts {
		if n, err := d.store.DiskUse(i.Name); err == nil {
			d.mu.Lock()
			d.disk[i.Name] = n
			d.mu.Unlock()
		}
	}
}
