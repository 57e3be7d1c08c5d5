package daemon

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"initns/daemon/internal/hostshell"
	"initns/daemon/internal/passwd"
	"initns/daemon/internal/procstatus"
	"initns/nsexec"
	"initns/proto"
	"initns/reaper"
)

// execSpec is what exec or shell runs in an instance, as the request asks.
type execSpec struct {
	argv  []string
	login bool // shell: the user's login shell in its home, argv from passwd
	user  string
	cwd   string
	env   []string
	tty   bool
	rows  uint16
	cols  uint16
}

// specOf reads exec's or shell's request.
func specOf(c *call, login bool) execSpec {
	s := execSpec{argv: c.args[1:], login: login, env: c.env, user: "root"}
	if login && len(c.args) > 1 {
		s.user = c.args[1]
	}
	if r := c.req; r != nil {
		s.tty, s.rows, s.cols, s.cwd = r.TTY, r.Rows, r.Cols, r.Cwd
		if !login && r.User != "" {
			s.user = r.User
		}
	}
	return s
}

// cmdExec runs a command inside a running instance, with the caller's
// stdio or a terminal of its own, and answers with its exit status when
// it ends.
func (d *Daemon) cmdExec(c *call) (any, error) { return d.runIn(c, specOf(c, false)) }

// cmdShell runs a user's login shell inside a running instance.
func (d *Daemon) cmdShell(c *call) (any, error) { return d.runIn(c, specOf(c, true)) }

func (d *Daemon) runIn(c *call, s execSpec) (any, error) {
	name := c.args[0]
	if !s.tty && len(c.fds) != 3 {
		return nil, fmt.Errorf("%w: exec needs the caller's stdin, stdout and stderr passed with the request, or a terminal (use the initns client)", proto.ErrUsage)
	}
	if s.tty && c.sendFD == nil {
		return nil, fmt.Errorf("%w: a terminal is sent back over the socket, which this connection is not", proto.ErrUsage)
	}
	proc, master, err := d.startExec(name, c, s)
	if err != nil {
		return nil, err
	}
	if master >= 0 {
		// The daemon keeps no copy: the client's is the last, so its
		// close hangs the session up.
		line, _ := json.Marshal(proto.Reply{PTY: true})
		err := c.sendFD(append(line, '\n'), master)
		unix.Close(master)
		if err != nil {
			unix.Kill(proc.Pid, unix.SIGKILL)
		}
	}
	var e reaper.Exit
	gone := false
	select {
	case e = <-proc.Exit:
	case <-c.hangup:
		gone = true
		e = endCommand(proc, s.tty)
	}
	// A session whose terminal hung up (the client gone, its leader ended
	// by SIGHUP) hangs up whole: the jobs left in it get SIGHUP too, as
	// bash gives its jobs; busybox sh leaves them running otherwise.
	if s.tty && (gone || e.Status.Signaled() && e.Status.Signal() == unix.SIGHUP) {
		hangUpSession(proc.Pid)
	}
	return proto.ExecResult{Status: shellStatus(e.Status)}, nil
}

// endCommand ends the command of a client that went away (Ctrl+C without
// a terminal, or killed). With a terminal the kernel has hung its session
// up, which ends a shell and its foreground job; a leader that ignores
// the hangup is killed after a grace. Without one it is killed at once.
func endCommand(proc *nsexec.Process, tty bool) reaper.Exit {
	grace := time.Duration(0)
	if tty {
		grace = hangupGrace
	}
	select {
	case e := <-proc.Exit:
		return e
	case <-time.After(grace):
		unix.Kill(proc.Pid, unix.SIGKILL)
		return <-proc.Exit
	}
}

// hangUpSession sends SIGHUP, then SIGCONT (a stopped job must wake to
// take it), to every process left in session sid, whose terminal has
// hung up. One that has made a session of its own (a daemon started from
// the shell) is not of it, and one that ignores SIGHUP (nohup) stays, as
// after a terminal window is closed.
func hangUpSession(sid int) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, ok := procstatus.Session(e.Name()); ok && s == sid {
			unix.Kill(pid, unix.SIGHUP)
			unix.Kill(pid, unix.SIGCONT)
		}
	}
}

// hangupGrace is how long a session whose terminal hung up has to end
// before its leader is killed.
const hangupGrace = 5 * time.Second

// startExec starts s in the instance name, and returns the terminal's
// master when it has one (else -1).
func (d *Daemon) startExec(name string, c *call, s execSpec) (proc *nsexec.Process, master int, err error) {
	master = -1
	err = d.withHeld(name, func(b *boot) error {
		proc, master, err = d.execIn(b, c, s)
		return err
	})
	var ce *nsexec.CommandError
	switch {
	case errors.Is(err, ErrNotRunning):
		err = fmt.Errorf("%w: run it first", err)
	case errors.As(err, &ce) && ce.NotFound():
		err = fmt.Errorf("%s: command not found in instance %s (PATH %s): %w", commandName(c, s), name, hostshell.PATH, err)
	case errors.As(err, &ce) && ce.NotExecutable():
		err = fmt.Errorf("%s: cannot run it in instance %s: %w", commandName(c, s), name, err)
	case errors.As(err, &ce) && ce.NoDir():
		err = fmt.Errorf("working directory %s in instance %s: %w", cmp.Or(s.cwd, "(the user's home)"), name, err)
	}
	return proc, master, err
}

func commandName(c *call, s execSpec) string {
	if s.login {
		return "login shell"
	}
	return c.args[1]
}

// execIn starts s inside b, which holds the machine.
func (d *Daemon) execIn(b *boot, c *call, s execSpec) (*nsexec.Process, int, error) {
	if d.isResident(b) {
		return nil, -1, fmt.Errorf("instance %s is resident (frozen in the background): a command there would hang; switch to it first (initns switch %s)", b.name, b.name)
	}
	if d.isFrozen(b) {
		return nil, -1, fmt.Errorf("instance %s is frozen: a command there would hang; run %s to thaw it first", b.name, b.name)
	}
	// The instance's root as its init sees it, its mounts included; b's
	// init is alive while the machine is held, so the pid is its.
	rootFD, err := unix.Open(fmt.Sprintf("/proc/%d/root", b.pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, fmt.Errorf("open the root of instance %s: %w", b.name, err)
	}
	defer unix.Close(rootFD)
	cfg, err := execConfig(rootFD, s)
	if err != nil {
		return nil, -1, err
	}
	fd, err := b.group.OpenLeaf(execCgroup)
	if err != nil {
		return nil, -1, err
	}
	defer unix.Close(fd)
	cfg.PidFD, cfg.CgroupFD = b.pidfd, fd
	master, slave := -1, -1
	if s.tty {
		if master, slave, err = openPTY(rootFD, b.name, s.rows, s.cols); err != nil {
			return nil, -1, err
		}
		defer unix.Close(slave)
		cfg.Stdio, cfg.CTTY = [3]int{slave, slave, slave}, true
	} else {
		cfg.Stdio = [3]int{c.fds[0], c.fds[1], c.fds[2]}
	}
	proc, err := nsexec.Exec(cfg)
	if err != nil && master >= 0 {
		unix.Close(master)
		master = -1
	}
	return proc, master, err
}

// execConfig is what nsexec runs for s: the user's ids, environment and
// working directory, read from the instance's own files.
func execConfig(rootFD int, s execSpec) (nsexec.ExecConfig, error) {
	u, cred, err := lookupUser(rootFD, s.user)
	if err != nil {
		return nsexec.ExecConfig{}, err
	}
	if u.Shell == "" {
		u.Shell = "/bin/sh" // passwd(5): an empty shell field means sh
	}
	if u.Home == "" || !isDir(rootFD, u.Home) {
		u.Home = "/" // as login(1) does: "No directory, logging in with HOME=/"
	}
	env, err := execEnv(u, s.env)
	if err != nil {
		return nsexec.ExecConfig{}, err
	}
	// The user's home unless asked otherwise, as incus exec does.
	cfg := nsexec.ExecConfig{Argv: s.argv, Path: filepath.SplitList(hostshell.PATH), Env: env, Dir: cmp.Or(s.cwd, u.Home)}
	// Root too: its groups are the instance's, never the daemon's.
	cfg.Cred = cred
	if s.login {
		// A login shell: argv[0] starts with "-", and it starts at home.
		cfg.Prog, cfg.Argv, cfg.Dir = u.Shell, []string{"-" + path.Base(u.Shell)}, u.Home
	}
	return cfg, nil
}

// execEnv is a clean environment for u, as a login gives it, with the
// caller's words (TERM, --env) set over it.
func execEnv(u passwd.User, words []string) ([]string, error) {
	env := []string{"PATH=" + hostshell.PATH, "HOME=" + u.Home, "SHELL=" + u.Shell, "USER=" + u.Name, "LOGNAME=" + u.Name}
	for _, w := range words {
		k, _, ok := strings.Cut(w, "=")
		if !ok || k == "" || strings.ContainsRune(w, 0) {
			return nil, fmt.Errorf("%w: environment word %q: want KEY=VALUE", proto.ErrUsage, w)
		}
		env = setEnv(env, k, w)
	}
	return env, nil
}

// setEnv replaces the word of key k in env, or appends w.
func setEnv(env []string, k, w string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = w
			return env
		}
	}
	return append(env, w)
}

// execCgroup is the leaf under an instance's cgroup where exec's commands
// are born (cgroupfs.Group.OpenLeaf says why a leaf). Its name has no
// systemd unit suffix, so an init that manages its cgroup tree leaves it
// alone.
const execCgroup = "initns.exec"

// shellStatus is an exit status as a shell reports it.
func shellStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
