package daemon

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"initns/nsexec"
	"initns/proto"
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
	strict   bool            // run: refuse a driver mismatch
	hangup   <-chan struct{} // exec: closed when the client goes away
	req      *proto.Request  // client mode: the request (exec's options)
	// sendFD sends a line with a descriptor to the client (exec's
	// terminal); nil where the connection cannot carry one.
	sendFD func(line []byte, fd int) error
}

// command is one verb of the socket with the daemon's handler of it.
type command struct {
	proto.Verb
	run func(d *Daemon, c *call) (any, error)
}

// handlers serve the verbs of proto.Verbs, one each (TestVerbTable).
var handlers = map[string]func(d *Daemon, c *call) (any, error){
	"new":         (*Daemon).cmdNew,
	"rm":          (*Daemon).cmdRm,
	"run":         (*Daemon).cmdRun,
	"switch":      (*Daemon).cmdSwitch,
	"stop":        (*Daemon).cmdStop,
	"freeze":      (*Daemon).cmdFreeze,
	"exec":        (*Daemon).cmdExec,
	"shell":       (*Daemon).cmdShell,
	"set":         (*Daemon).cmdSet,
	"reset":       (*Daemon).cmdReset,
	"clone":       (*Daemon).cmdClone,
	"rename":      (*Daemon).cmdRename,
	"diff":        (*Daemon).cmdDiff,
	"default":     (*Daemon).cmdDefault,
	"history":     (*Daemon).cmdHistory,
	"ls":          (*Daemon).cmdLs,
	"seed":        (*Daemon).cmdSeed,
	"commit":      (*Daemon).cmdCommit,
	"remote":      (*Daemon).cmdRemote,
	"import":      (*Daemon).cmdImport,
	"export":      (*Daemon).cmdExport,
	"reboot":      (*Daemon).cmdReboot,
	"poweroff":    (*Daemon).cmdPoweroff,
	"help":        (*Daemon).cmdHelp,
	"version":     (*Daemon).cmdVersion,
	"debug-panic": func(*Daemon, *call) (any, error) { panic("debug-panic requested") },
	"debug-start": (*Daemon).cmdDebugStart,
	"debug-stats": func(*Daemon, *call) (any, error) {
		return []string{"goroutines " + strconv.Itoa(runtime.NumGoroutine())}, nil
	},
}

// commands is the dispatch table: each verb of proto.Verbs with its
// handler. A verb without a handler is not served (TestVerbTable fails).
var commands = func() map[string]command {
	m := make(map[string]command, len(proto.Verbs))
	for _, v := range proto.Verbs {
		if run, ok := handlers[v.Name]; ok {
			m[v.Name] = command{Verb: v, run: run}
		}
	}
	return m
}()

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
	d.record(store.Event{Instance: name, Kind: store.EventRemoved})
	return nil, nil
}

func (d *Daemon) cmdRun(c *call) (any, error) {
	name := c.args[0]
	return d.checked(name, c.strict, func() error { return d.run(name, "run") })
}

// run gives name the console as `run NAME` does, for why (who asked:
// boots_linux.go).
func (d *Daemon) run(name, why string) error { return d.transition(name, why, planRun) }

// withHeld runs f with the boot of name, if it is alive (running, frozen
// or resident), under d.life: no run, switch, stop or freeze can change the
// machine until f returns.
func (d *Daemon) withHeld(name string, f func(b *boot) error) error {
	if _, err := d.store.Instance(name); err != nil {
		return err
	}
	d.life.Lock()
	defer d.life.Unlock()
	b := d.live(name)
	if b == nil {
		return fmt.Errorf("instance %s %w", name, ErrNotRunning)
	}
	return f(b)
}

func (d *Daemon) cmdStop(c *call) (any, error) {
	timeout := c.timeout
	if timeout <= 0 {
		timeout = d.cfg.StopTimeout
	}
	return nil, d.withHeld(c.args[0], func(b *boot) error {
		return d.stop(b, c.kill, timeout)
	})
}

// freezeTimeout bounds a freeze (SPEC §7): past it, the freeze is undone.
const freezeTimeout = 5 * time.Second

func (d *Daemon) cmdFreeze(c *call) (any, error) {
	return nil, d.withHeld(c.args[0], func(b *boot) error {
		if d.isFrozen(b) {
			return nil
		}
		_, err := d.freeze(b, freezeTimeout, "freeze")
		return err
	})
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
	return nil, fmt.Errorf("ls %s: %w: say `ls image` or `ls instance`", what, proto.ErrUsage)
}

func (d *Daemon) list() (*proto.List, error) {
	insts, err := d.store.Instances()
	if err != nil {
		return nil, err
	}
	imgs, err := d.store.Images()
	if err != nil {
		return nil, err
	}
	l := &proto.List{Instances: []proto.Instance{}, Images: []proto.Image{}}
	// Looked up in each root (a few system calls each), outside the lock.
	modules := make(map[string]string, len(insts))
	for _, i := range insts {
		modules[i.Name] = d.modulesColumn(i.Name)
	}
	tallies := d.tallies(insts)
	d.mu.Lock()
	for _, i := range insts {
		row := proto.Instance{Name: i.Name, Kind: kind(i), Image: i.Image, Size: i.Size, Disk: d.disk[i.Name], Created: i.Created, Ended: d.ended[i.Name]}
		lastBoot(&row, tallies[i.Name])
		row.Init, row.Halt = d.initColumn(i)
		row.Modules = modules[i.Name]
		row.State = string(Stopped)
		if b := d.liveLocked(i.Name); b != nil {
			row.State, row.Pid = string(stateOf(b == d.active, b.frozen)), b.pid
		}
		l.Instances = append(l.Instances, row)
	}
	d.mu.Unlock()
	for _, i := range imgs {
		row := proto.Image{Name: i.Name, Size: i.Size, Modified: i.Modified}
		if i.Origin != nil {
			row.Source, row.Digest = i.Origin.Source, i.Origin.Digest
		}
		l.Images = append(l.Images, row)
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
	b := d.live(name)
	if b == nil || d.isFrozen(b) {
		return func() {}, nil
	}
	if _, err := d.freeze(b, freezeTimeout, "commit"); err != nil {
		return nil, fmt.Errorf("freeze %s for the snapshot: %w", name, err)
	}
	return func() {
		d.life.Lock()
		defer d.life.Unlock()
		if d.live(name) == b && d.frozenBy(b) == "commit" {
			if err := d.thaw(b); err != nil {
				d.log.Error("thaw after commit", "instance", name, "err", err)
			}
		}
	}, nil
}

func (d *Daemon) cmdReboot(c *call) (any, error)   { return nil, d.powerDown("reboot") }
func (d *Daemon) cmdPoweroff(c *call) (any, error) { return nil, d.powerDown("poweroff") }

// powerDown stops every live instance gracefully, the one in front and
// the resident ones alike, and asks the main loop to reboot or power off
// (PID 1) or to exit (otherwise).
func (d *Daemon) powerDown(how string) error {
	d.closeMenu()
	d.life.Lock()
	d.stopAll(how)
	d.life.Unlock()
	select {
	case d.shutdown <- how:
	default:
	}
	return nil
}

func (d *Daemon) cmdHelp(c *call) (any, error) {
	var lines []string
	for _, v := range proto.Verbs {
		if !v.Debug && !v.Internal {
			lines = append(lines, v.Usage())
		}
	}
	return lines, nil
}

func (d *Daemon) cmdVersion(c *call) (any, error) { return []string{"initns " + proto.Version}, nil }

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
	return errors.Is(err, proto.ErrUsage) || errors.Is(err, store.ErrInvalidName)
}

// errorCode classifies a failed request for the client's exit status: a
// usage error (2), exec's command not found (127) or not executable (126),
// or a failure (1).
func errorCode(err error) proto.Code {
	var ce *nsexec.CommandError
	switch {
	case usageError(err):
		return proto.CodeUsage
	case errors.As(err, &ce) && ce.NotFound():
		return proto.CodeNotFound
	case errors.As(err, &ce) && ce.NotExecutable():
		return proto.CodeNotExecutable
	}
	return proto.CodeFailed
}

// joinLines renders a list result as compatibility-mode body lines.
func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}
