package daemon

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"initns/daemon/api"
	"initns/store"
)

// call is one request, from either mode.
type call struct {
	ctx      context.Context
	args     []string
	kill     bool
	timeout  time.Duration
	progress store.Progress
	fds      []int           // descriptors passed with the request (exec's stdio)
	env      []string        // exec: the caller's TERM and the like
	overlay  bool            // new: an overlay instance
	hangup   <-chan struct{} // exec: closed when the client goes away
}

// command is one verb of the socket.
type command struct {
	min, max int    // number of arguments
	usage    string // for help and usage errors
	run      func(d *Daemon, c *call) (any, error)
	debug    bool // only with --debug / initns.debug=1
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"new":      {2, 2, "new NAME IMAGE", (*Daemon).cmdNew, false},
		"rm":       {1, 1, "rm NAME", (*Daemon).cmdRm, false},
		"run":      {1, 1, "run NAME", (*Daemon).cmdRun, false},
		"stop":     {1, 1, "stop NAME", (*Daemon).cmdStop, false},
		"freeze":   {1, 1, "freeze NAME", (*Daemon).cmdFreeze, false},
		"exec":     {2, 1 << 16, "exec NAME CMD [ARGS...]", (*Daemon).cmdExec, false},
		"set":      {2, 8, "set NAME KEY=VALUE...", (*Daemon).cmdSet, false},
		"reset":    {1, 1, "reset NAME", (*Daemon).cmdReset, false},
		"clone":    {2, 2, "clone SRC DST", (*Daemon).cmdClone, false},
		"rename":   {2, 2, "rename OLD NEW", (*Daemon).cmdRename, false},
		"diff":     {1, 1, "diff NAME", (*Daemon).cmdDiff, false},
		"default":  {0, 1, "default [NAME]", (*Daemon).cmdDefault, false},
		"ls":       {0, 1, "ls [image|instance]", (*Daemon).cmdLs, false},
		"seed":     {2, 2, "seed DIR IMAGE", (*Daemon).cmdSeed, false},
		"commit":   {2, 2, "commit NAME IMAGE", (*Daemon).cmdCommit, false},
		"reboot":   {0, 0, "reboot", (*Daemon).cmdReboot, false},
		"poweroff": {0, 0, "poweroff", (*Daemon).cmdPoweroff, false},
		"help":     {0, 0, "help", (*Daemon).cmdHelp, false},
		"version":  {0, 0, "version", (*Daemon).cmdVersion, false},
		// debug-panic proves in tests that a panicking handler does not take
		// the daemon (PID 1) down.
		"debug-panic": {0, 0, "debug-panic", func(*Daemon, *call) (any, error) { panic("debug-panic requested") }, true},
		// debug-stats lets the load tests count goroutines for leaks.
		"debug-stats": {0, 0, "debug-stats", func(*Daemon, *call) (any, error) {
			return []string{"goroutines " + strconv.Itoa(runtime.NumGoroutine())}, nil
		}, true},
	}
}

// Version is the daemon's version, set at link time.
var Version = "dev"

func (d *Daemon) cmdNew(c *call) (any, error) {
	name, image := c.args[0], c.args[1]
	if err := d.claim(name, "new"); err != nil {
		return nil, err
	}
	defer d.release(name)
	defer d.measure(name)
	var err error
	if c.overlay {
		err = d.store.NewOverlay(c.ctx, name, image, c.progress)
	} else {
		err = d.store.New(c.ctx, name, image, c.progress)
	}
	if err == nil {
		d.detectInit(name)
	}
	return nil, err
}

func (d *Daemon) cmdRm(c *call) (any, error) {
	name := c.args[0]
	if err := d.claimStopped(name, "rm"); err != nil {
		return nil, err
	}
	defer d.release(name)
	if err := d.store.Remove(name); err != nil {
		return nil, err
	}
	d.mu.Lock()
	delete(d.disk, name)
	delete(d.ended, name)
	d.mu.Unlock()
	return nil, nil
}

func (d *Daemon) cmdRun(c *call) (any, error) {
	name := c.args[0]
	if _, err := d.store.Instance(name); err != nil {
		return nil, err
	}
	d.life.Lock()
	defer d.life.Unlock()
	// Claimed while it boots, so that rm or commit cannot start meanwhile;
	// once it runs, they see it running.
	if err := d.claim(name, "run"); err != nil {
		return nil, err
	}
	defer d.release(name)
	b := d.current()
	for _, s := range planRun(activeName(b), b != nil && d.isFrozen(b), name) {
		if err := d.runStep(s, b, name); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (d *Daemon) runStep(s step, b *boot, name string) error {
	switch s {
	case stepEndConsole:
		d.endConsole()
	case stepThaw:
		return d.thaw(b)
	case stepStopOther:
		if err := d.stop(b, false, d.cfg.StopTimeout); err != nil {
			return fmt.Errorf("stop %s first: %w", b.name, err)
		}
	case stepBoot:
		return d.start(name)
	}
	return nil
}

// holding returns the boot of name if it holds the machine (running or
// frozen), with d.life locked; the caller unlocks it.
func (d *Daemon) holding(name string) (*boot, error) {
	if _, err := d.store.Instance(name); err != nil {
		return nil, err
	}
	d.life.Lock()
	b := d.current()
	if b == nil || b.name != name {
		d.life.Unlock()
		return nil, fmt.Errorf("instance %s %w", name, ErrNotRunning)
	}
	return b, nil
}

func (d *Daemon) cmdStop(c *call) (any, error) {
	b, err := d.holding(c.args[0])
	if err != nil {
		return nil, err
	}
	defer d.life.Unlock()
	timeout := c.timeout
	if timeout <= 0 {
		timeout = d.cfg.StopTimeout
	}
	return nil, d.stop(b, c.kill, timeout)
}

// freezeTimeout bounds a freeze (SPEC §7): past it, the freeze is undone.
const freezeTimeout = 5 * time.Second

func (d *Daemon) cmdFreeze(c *call) (any, error) {
	b, err := d.holding(c.args[0])
	if err != nil {
		return nil, err
	}
	defer d.life.Unlock()
	if d.isFrozen(b) {
		return nil, nil
	}
	_, err = d.freeze(b, freezeTimeout, "freeze")
	return nil, err
}

func (d *Daemon) cmdLs(c *call) (any, error) {
	if len(c.args) == 1 {
		return d.bareNames(c.args[0])
	}
	return d.list()
}

// bareNames is `ls image` / `ls instance`: one name per line.
func (d *Daemon) bareNames(what string) ([]string, error) {
	var names []string
	switch what {
	case "image", "images":
		imgs, err := d.store.Images()
		for _, i := range imgs {
			names = append(names, i.Name)
		}
		return names, err
	case "instance", "instances":
		insts, err := d.store.Instances()
		for _, i := range insts {
			names = append(names, i.Name)
		}
		return names, err
	}
	return nil, fmt.Errorf("ls %s: %w: say `ls image` or `ls instance`", what, api.ErrUsage)
}

func (d *Daemon) list() (*api.List, error) {
	insts, err := d.store.Instances()
	if err != nil {
		return nil, err
	}
	imgs, err := d.store.Images()
	if err != nil {
		return nil, err
	}
	l := &api.List{Instances: []api.Instance{}, Images: []api.Image{}}
	d.mu.Lock()
	for _, i := range insts {
		row := api.Instance{Name: i.Name, Kind: kind(i), Image: i.Image, Size: i.Size, Disk: d.disk[i.Name], Created: i.Created, Ended: d.ended[i.Name]}
		row.Init, row.Halt = d.initColumn(i)
		row.State = string(stateOf(i.Name, activeName(d.active), d.active != nil && d.active.frozen))
		if row.State != string(Stopped) {
			row.Pid = d.active.pid
		}
		l.Instances = append(l.Instances, row)
	}
	d.mu.Unlock()
	for _, i := range imgs {
		l.Images = append(l.Images, api.Image{Name: i.Name, Size: i.Size, Modified: i.Modified})
	}
	return l, nil
}

func (d *Daemon) cmdSeed(c *call) (any, error) {
	return nil, d.store.Seed(c.ctx, c.args[0], c.args[1], c.progress)
}

func (d *Daemon) cmdCommit(c *call) (any, error) {
	name, image := c.args[0], c.args[1]
	if _, err := d.store.Instance(name); err != nil {
		return nil, err
	}
	if err := d.claim(name, "commit"); err != nil {
		return nil, err
	}
	defer d.release(name)
	thaw, err := d.holdStill(name)
	if err != nil {
		return nil, err
	}
	defer thaw()
	return nil, d.store.Commit(c.ctx, name, image, c.progress)
}

// holdStill freezes name for a snapshot if it is running, and returns what
// undoes that. A frozen instance stays as it is.
func (d *Daemon) holdStill(name string) (func(), error) {
	d.life.Lock()
	defer d.life.Unlock()
	b := d.current()
	if b == nil || b.name != name || d.isFrozen(b) {
		return func() {}, nil
	}
	if _, err := d.freeze(b, freezeTimeout, "commit"); err != nil {
		return nil, fmt.Errorf("freeze %s for the snapshot: %w", name, err)
	}
	return func() {
		d.life.Lock()
		defer d.life.Unlock()
		if d.current() == b && d.frozenBy(b) == "commit" {
			if err := d.thaw(b); err != nil {
				d.log.Error("thaw after commit", "instance", name, "err", err)
			}
		}
	}, nil
}

func (d *Daemon) cmdReboot(c *call) (any, error)   { return nil, d.powerDown("reboot") }
func (d *Daemon) cmdPoweroff(c *call) (any, error) { return nil, d.powerDown("poweroff") }

// powerDown stops the instance gracefully and asks the main loop to reboot
// or power off (PID 1) or to exit (otherwise).
func (d *Daemon) powerDown(how string) error {
	d.life.Lock()
	if b := d.current(); b != nil {
		if err := d.stop(b, false, d.cfg.StopTimeout); err != nil {
			d.log.Error("stop before "+how, "instance", b.name, "err", err)
		}
	}
	d.life.Unlock()
	select {
	case d.shutdown <- how:
	default:
	}
	return nil
}

func (d *Daemon) cmdHelp(c *call) (any, error) {
	var lines []string
	for _, v := range []string{"new", "rm", "run", "stop", "freeze", "exec", "set", "reset", "clone", "rename", "diff", "default", "ls", "seed", "commit", "reboot", "poweroff", "help", "version"} {
		lines = append(lines, commands[v].usage)
	}
	return lines, nil
}

func (d *Daemon) cmdVersion(c *call) (any, error) { return []string{"initns " + Version}, nil }

func (d *Daemon) frozenBy(b *boot) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !b.frozen {
		return ""
	}
	return b.frozenBy
}

func (d *Daemon) isFrozen(b *boot) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return b.frozen
}

func activeName(b *boot) string {
	if b == nil {
		return ""
	}
	return b.name
}

// usageError tells whether err is the caller's mistake rather than a failure.
func usageError(err error) bool {
	return errors.Is(err, api.ErrUsage) || errors.Is(err, store.ErrInvalidName)
}

// joinLines renders a list result as compatibility-mode body lines.
func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}
