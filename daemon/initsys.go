package daemon

import (
	"fmt"
	"strings"
	"syscall"

	"initns/initsys"
	"initns/proto"
	"initns/store"
)

// The init inside each instance: detected from its /sbin/init when the
// instance is made and at every boot, stored with it, and overridable by
// the user (`initns set`), so that stop speaks that init's language.

// detectInit reads name's /sbin/init inside its root and stores what it
// is, if that changed. A root without a recognisable init is not an
// error here: boot says what is wrong with it, and stop falls back to
// the daemon's --halt-signal.
func (d *Daemon) detectInit(name string) {
	k, err := initsys.Detect(d.store.RootfsPath(name))
	if err != nil {
		d.log.Info("no init recognised", "instance", name, "err", err)
	}
	in, err := d.store.Instance(name)
	if err != nil || in.Init == string(k) {
		return
	}
	if err := d.store.Update(name, func(i *store.Instance) { i.Init = string(k) }); err != nil {
		d.log.Warn("store the detected init", "instance", name, "init", k, "err", err)
		return
	}
	d.log.Info("init detected", "instance", name, "init", k)
}

// initOf is the init whose language the daemon speaks to in, and how it
// asks it for action a.
func (d *Daemon) initOf(in store.Instance, a initsys.Action) (initsys.Kind, initsys.Request) {
	k := initsys.Kind(in.Init)
	if in.InitSet != "" {
		k = initsys.Kind(in.InitSet)
	}
	return k, initsys.Plan(k, syscall.Signal(in.HaltSignal), d.cfg.HaltSignal, a)
}

// haltRequest is how name's init is asked to power off.
func (d *Daemon) haltRequest(name string) initsys.Request {
	in, err := d.store.Instance(name)
	if err != nil {
		return initsys.Request{Signal: d.cfg.HaltSignal}
	}
	_, r := d.initOf(in, initsys.Poweroff)
	return r
}

// initColumn says for `ls` which init an instance runs and how it is
// stopped.
func (d *Daemon) initColumn(in store.Instance) (init, halt string) {
	k, r := d.initOf(in, initsys.Poweroff)
	init = string(k)
	if init == "" {
		init = "unknown"
	}
	if in.InitSet != "" {
		init += " (set)"
	}
	halt = r.String()
	if in.HaltSignal != 0 {
		halt += " (set)"
	}
	return init, halt
}

// setting is one KEY=VALUE of `initns set`, parsed, as a change to apply.
type setting func(*store.Instance)

// parseSetting reads one KEY=VALUE of `set`.
func parseSetting(kv string) (setting, error) {
	key, val, ok := strings.Cut(kv, "=")
	if !ok {
		return nil, fmt.Errorf("%w: %q is not KEY=VALUE (init=KIND|auto, halt-signal=SIGNAL|auto, container=NAME|none|auto)", proto.ErrUsage, kv)
	}
	switch key {
	case "init":
		if val == "auto" || val == "" {
			return func(i *store.Instance) { i.InitSet = "" }, nil
		}
		k, err := initsys.ParseKind(val)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", proto.ErrUsage, err)
		}
		return func(i *store.Instance) { i.InitSet = string(k) }, nil
	case "halt-signal":
		if val == "auto" || val == "" {
			return func(i *store.Instance) { i.HaltSignal = 0 }, nil
		}
		sig, err := initsys.ParseSignal(val)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", proto.ErrUsage, err)
		}
		return func(i *store.Instance) { i.HaltSignal = int(sig) }, nil
	case "container":
		return parseContainer(val)
	}
	return nil, fmt.Errorf("%w: unknown setting %q: init, halt-signal or container", proto.ErrUsage, key)
}

// cmdSet changes an instance's settings: all of them or none. They apply
// at once, to a running instance's next stop too.
func (d *Daemon) cmdSet(c *call) (any, error) {
	name := c.args[0]
	var changes []setting
	for _, kv := range c.args[1:] {
		f, err := parseSetting(kv)
		if err != nil {
			return nil, err
		}
		changes = append(changes, f)
	}
	if err := d.claim(name, "set"); err != nil {
		return nil, err
	}
	defer d.release(name)
	return nil, d.store.Update(name, func(i *store.Instance) {
		for _, f := range changes {
			f(i)
		}
	})
}
