package daemon

import (
	"errors"
	"fmt"

	"initns/nsexec"
	"initns/proto"
	"initns/store"
)

// What an instance gets of the kernel it shares (package hostkernel): the
// running kernel's modules and firmware when it has none, the container=
// word its init is told, and the check of its driver userspace at run.

// ErrDriverMismatch refuses `run --strict` of an instance whose
// kernel-bound driver userspace does not match the loaded module.
var ErrDriverMismatch = errors.New("driver userspace does not match the loaded kernel module")

// lend returns the read-only mounts of the host's kernel directories the
// instance name gets at this boot, their mount points made in its root. A
// failure is logged and the instance boots without them: its own init
// reports what it misses, as on a machine without them.
func (d *Daemon) lend(name string) []nsexec.Bind {
	h, root := d.cfg.Host, d.store.RootfsPath(name)
	facts, err := h.Inspect(root)
	if err != nil {
		d.log.Warn("the running kernel's modules and firmware are not shown in the instance", "instance", name, "err", err)
		return nil
	}
	mounts, err := h.Prepare(root, h.Decide(facts))
	if err != nil {
		d.log.Warn("not shown in the instance", "instance", name, "err", err)
	}
	binds := make([]nsexec.Bind, 0, len(mounts))
	for _, m := range mounts {
		binds = append(binds, nsexec.Bind{Source: m.Source, Target: m.Target})
	}
	d.log.Info("kernel view", "instance", name, "release", h.Release, "modules", facts.ModulesOf(), "binds", len(binds))
	return binds
}

// checkDrivers compares the instance's kernel-bound driver userspace with
// the loaded modules before it boots: each mismatch is a warning, logged
// and returned for run's answer, or with strict the refusal of the boot.
func (d *Daemon) checkDrivers(name string, strict bool) ([]string, error) {
	h := d.cfg.Host
	found, err := h.Userspace(d.store.RootfsPath(name))
	if err != nil {
		return nil, err
	}
	var warnings []string
	for _, m := range h.Mismatches(found, h.Loaded()) {
		if strict {
			return nil, fmt.Errorf("instance %s: %w: %s (run without --strict to boot it anyway)", name, ErrDriverMismatch, m)
		}
		d.log.Warn("driver mismatch", "instance", name, "module", m.Module, "loaded", m.Loaded, "warning", m.String())
		warnings = append(warnings, m.String())
	}
	return warnings, nil
}

// checked gives name the console with give (run or switch), checking
// first, when name is not live and so will boot, its driver userspace:
// with strict a mismatch refuses before anything changes; without, the
// warnings are the answer.
func (d *Daemon) checked(name string, strict bool, give func() error) (any, error) {
	if _, err := d.store.Instance(name); err != nil {
		return nil, err
	}
	var warnings []string
	if d.live(name) == nil {
		var err error
		if warnings, err = d.checkDrivers(name, strict); err != nil {
			return nil, err
		}
	}
	if err := give(); err != nil {
		return nil, err
	}
	if len(warnings) > 0 {
		return proto.Warnings{Warnings: warnings}, nil
	}
	return nil, nil
}

// modulesColumn says for `ls` where the instance's modules for the running
// kernel come from: its own, the host's (mounted at boot), or none.
func (d *Daemon) modulesColumn(name string) string {
	facts, err := d.cfg.Host.Inspect(d.store.RootfsPath(name))
	if err != nil {
		return "unknown"
	}
	return string(facts.ModulesOf())
}

// initEnv is the environment the daemon adds for the instance's init: the
// container= word (README, "Hardware"). By default empty, systemd's way of
// saying "not a container": the instance is the machine's system, so its
// udev, logind seats and gettys run as on the machine. A setting names a
// container manager instead, or "none" leaves the variable out (systemd
// then guesses, from its cgroup namespace).
func initEnv(in store.Instance) []string {
	switch in.Container {
	case "":
		return []string{"container="}
	case containerNone:
		return nil
	}
	return []string{"container=" + in.Container}
}

// containerNone is the container= setting that leaves the word out.
const containerNone = "none"

// parseContainer reads the value of container=: "" or auto is the
// default, none or a container manager's name (as systemd knows them:
// lxc, docker, systemd-nspawn, ...).
func parseContainer(val string) (setting, error) {
	if val == "auto" {
		val = ""
	}
	if val != "" && store.ValidInstanceName(val) != nil {
		return nil, fmt.Errorf("%w: container=%q: want a container manager's name (letters, digits, '_', '.', '-'), none, or auto", proto.ErrUsage, val)
	}
	return func(i *store.Instance) { i.Container = val }, nil
}
