package nsexec

import (
	"cmp"
	"fmt"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"initns/reaper"
)

// ExecConfig says what to run inside a running instance.
type ExecConfig struct {
	PidFD    int      // pidfd of the instance's init: its namespaces are joined
	CgroupFD int      // the instance's cgroup: the command is born inside it
	Argv     []string // the command; a name without a slash is looked up in Path inside the instance
	Prog     string   // the program to run, when it is not Argv[0] (a login shell's argv[0] is "-sh")
	Path     []string // directories to look the command up in, as the instance sees them
	Env      []string
	Stdio    [3]int // descriptors for the command's stdin, stdout and stderr
	// CTTY makes Stdio[0], a terminal, the controlling terminal of the
	// command's new session.
	CTTY bool
	Dir  string // working directory, as the instance sees it; "" is /
	Cred *Cred  // the user to run as; nil stays root
}

// Cred is a user of the instance: the command switches to it, groups
// first, after it has joined the instance and before it changes
// directory, so the directory is reached with the user's rights.
type Cred struct {
	Uid, Gid uint32
	Groups   []uint32 // supplementary groups; empty: none
}

// Exec runs a command inside a running instance: in its namespaces
// (joined through the init's pidfd), at its root, in the given cgroup,
// with the given stdio. The command is looked up the way execvp does,
// inside the instance after joining its mount namespace, so its own
// symlinks and mounts decide, never the host's. A first child joins the
// namespaces and forks the command with CLONE_PARENT, so the command is the daemon's own
// child (its exit goes to the reaper) while being a member of the
// instance's PID namespace; the first child then exits.
func Exec(cfg ExecConfig) (*Process, error) {
	if len(cfg.Argv) == 0 {
		return nil, fmt.Errorf("exec: no command")
	}
	p, err := newExecPlan(cfg)
	if err != nil {
		return nil, fmt.Errorf("exec %s: %w", cfg.Argv[0], err)
	}
	defer p.close()
	pid, exit, err := reaper.StartFunc(p.startExec)
	if err != nil {
		return nil, fmt.Errorf("exec %s: %w", cfg.Argv[0], err)
	}
	return &Process{Pid: pid, PidFD: -1, Exit: exit}, nil
}

// execPlan is what exec's two children need, on top of their plan: the
// first (the plan's child) joins the instance and forks the second, the
// command.
type execPlan struct {
	second cloneArgs
	pidfd  int     // the instance init's, whose namespaces are joined
	paths  []*byte // candidates, in order, as execvp tries them
	stdio  [3]int
	ctty   bool
	dir    *byte
	cred   *Cred
	groups *uint32 // &cred.Groups[0], or nil
}

func newExecPlan(cfg ExecConfig) (*plan, error) {
	var cs cstrings
	e := &execPlan{pidfd: cfg.PidFD, stdio: cfg.Stdio, ctty: cfg.CTTY, dir: cs.of(cmp.Or(cfg.Dir, "/")), cred: cfg.Cred}
	if e.cred != nil && len(e.cred.Groups) > 0 {
		e.groups = &e.cred.Groups[0]
	}
	for _, c := range candidates(cmp.Or(cfg.Prog, cfg.Argv[0]), cfg.Path) {
		e.paths = append(e.paths, cs.of(c))
	}
	p := newPlan(&cs, cfg.Argv, cfg.Env)
	p.exec = e
	if cs.err != nil {
		return nil, cs.err
	}
	if err := p.openPipe(); err != nil {
		return nil, err
	}
	p.args = cloneArgs{exitSignal: uint64(unix.SIGCHLD)}
	// CLONE_PARENT makes the command the daemon's child; the kernel wants
	// exit_signal 0 with it and uses the first child's (SIGCHLD).
	e.second = cloneArgs{flags: unix.CLONE_PARENT | unix.CLONE_INTO_CGROUP, cgroup: uint64(cfg.CgroupFD)}
	return p, nil
}

// startExec forks the first child and returns the command's pid, read
// from the pipe, or the reason it could not run. It runs under the
// reaper's lock: neither child can be reaped before the command's waiter
// exists (the first child's exit is reaped later as an orphan).
func (p *plan) startExec() (int, error) {
	if _, err := p.clone(); err != nil {
		return 0, err
	}
	// Records: (0, pid) when the command was forked, then (stage, errno)
	// if something failed; EOF once the command exec'd.
	pid := 0
	for {
		rec, ok := readRecord(p.errR)
		if !ok {
			break
		}
		if rec.stage == 0 {
			pid = int(rec.val)
			continue
		}
		return 0, commandError(rec)
	}
	if pid == 0 {
		return 0, fmt.Errorf("the command was not started")
	}
	return pid, nil
}

// execChild joins the instance's namespaces and forks the command.
//
//go:nosplit
//go:norace
func (p *plan) execChild() {
	errFD := uintptr(p.errW)
	if _, _, e := syscall.RawSyscall(unix.SYS_SETNS, uintptr(p.exec.pidfd), Namespaces, 0); e != 0 {
		report(errFD, stageJoin, uint32(e), 0)
	}
	pid, _, e := syscall.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&p.exec.second)), unsafe.Sizeof(p.exec.second), 0)
	switch {
	case e != 0:
		report(errFD, stageFork, uint32(e), 0)
	case pid == 0:
		p.command()
	}
	report(errFD, 0, uint32(pid), 0)
}

// command is the command's own process until execve.
//
//go:nosplit
//go:norace
func (p *plan) command() {
	st, e := stageConsole, syscall.Errno(0)
	for fd := 0; fd < 3 && e == 0; fd++ {
		_, _, e = syscall.RawSyscall(unix.SYS_DUP3, uintptr(p.exec.stdio[fd]), uintptr(fd), 0)
	}
	if e == 0 {
		st = stageSetsid
		_, _, e = syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0)
	}
	if e == 0 && p.exec.ctty {
		// A session leader without a controlling terminal acquires the
		// terminal it names: the shell then has job control, and the
		// terminal's hangup reaches the session.
		st = stageCtty
		_, _, e = syscall.RawSyscall(unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 0)
	}
	if e == 0 && p.exec.cred != nil {
		st, e = p.switchUser()
	}
	if e == 0 {
		st = stageCwd
		_, _, e = syscall.RawSyscall(unix.SYS_CHDIR, uintptr(unsafe.Pointer(p.exec.dir)), 0, 0)
	}
	if e == 0 {
		st = stageCloseRange
		_, _, e = syscall.RawSyscall(unix.SYS_CLOSE_RANGE, 3, ^uintptr(0), unix.CLOSE_RANGE_CLOEXEC)
	}
	if e == 0 {
		p.defaultSignals()
		st = stageExecCommand
		e = p.execvp()
	}
	report(uintptr(p.errW), st, uint32(e), 127)
}

// switchUser sets the groups, then the gid, then the uid: each step
// needs the privilege the next one drops. The raw calls change this
// process alone, which is the child's only thread.
//
//go:nosplit
//go:norace
func (p *plan) switchUser() (stage, syscall.Errno) {
	c := p.exec.cred
	if _, _, e := syscall.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(c.Groups)), uintptr(unsafe.Pointer(p.exec.groups)), 0); e != 0 {
		return stageUser, e
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_SETRESGID, uintptr(c.Gid), uintptr(c.Gid), uintptr(c.Gid)); e != 0 {
		return stageUser, e
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_SETRESUID, uintptr(c.Uid), uintptr(c.Uid), uintptr(c.Uid)); e != 0 {
		return stageUser, e
	}
	return 0, 0
}

// execvp tries each candidate as execvp(3) does: on to the next when a
// directory has no such file; EACCES, if any candidate gave it, wins over
// ENOENT at the end, so "not executable" is not reported as "not found".
//
//go:nosplit
//go:norace
func (p *plan) execvp() syscall.Errno {
	last, denied := syscall.Errno(unix.ENOENT), false
	for i := 0; i < len(p.exec.paths); i++ {
		_, _, e := syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(p.exec.paths[i])),
			uintptr(unsafe.Pointer(&p.argv[0])), uintptr(unsafe.Pointer(&p.envv[0])))
		switch e {
		case unix.EACCES:
			denied = true
		case unix.ENOENT, unix.ENOTDIR, unix.ELOOP, unix.ENAMETOOLONG:
		default:
			return e
		}
		last = e
	}
	if denied {
		return unix.EACCES
	}
	return last
}

// candidates are the paths execvp would try for cmd: cmd itself when it
// names a path, else cmd in each directory of path.
func candidates(cmd string, path []string) []string {
	if strings.Contains(cmd, "/") {
		return []string{cmd}
	}
	out := make([]string, 0, len(path))
	for _, dir := range path {
		if dir == "" {
			dir = "."
		}
		out = append(out, strings.TrimSuffix(dir, "/")+"/"+cmd)
	}
	return out
}

// CommandError is why a command could not be started in an instance.
type CommandError struct {
	Stage string
	Errno syscall.Errno
}

func (e *CommandError) Error() string {
	return e.Stage + ": " + e.Errno.Error()
}

func (e *CommandError) Unwrap() error { return e.Errno }

// commandError is the CommandError of a failure record of exec's children.
func commandError(rec record) *CommandError {
	return &CommandError{Stage: rec.stage.String(), Errno: rec.errno()}
}

// NotFound tells a command that is in none of the directories (a shell's
// status 127); NotExecutable one that was found but may not run (126).
func (e *CommandError) NotFound() bool {
	return e.Stage == stageExecCommand.String() && (e.Errno == unix.ENOENT || e.Errno == unix.ENOTDIR)
}

// NoDir tells a working directory the command could not change to.
func (e *CommandError) NoDir() bool { return e.Stage == stageCwd.String() }

// NotExecutable: see NotFound.
func (e *CommandError) NotExecutable() bool {
	return e.Stage == stageExecCommand.String() && !e.NotFound()
}
