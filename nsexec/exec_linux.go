package nsexec

import (
	"fmt"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"initns/daemon/reaper"
)

// ExecConfig says what to run inside a running instance.
type ExecConfig struct {
	PidFD    int      // pidfd of the instance's init: its namespaces are joined
	CgroupFD int      // the instance's cgroup: the command is born inside it
	Argv     []string // the command; a name without a slash is looked up in Path inside the instance
	Path     []string // directories to look the command up in, as the instance sees them
	Env      []string
	Stdio    [3]int // descriptors for the command's stdin, stdout and stderr
}

// Exec runs a command inside a running instance: in its namespaces
// (joined through the init's pidfd), at its root, in the given cgroup,
// with the given stdio. The command is looked up the way execvp does,
// inside the instance after joining its mount namespace, so its own
// symlinks and mounts decide, never the host's. A first child joins the namespaces and
// forks the command with CLONE_PARENT, so the command is the daemon's own
// child (its exit goes to the reaper) while being a member of the
// instance's PID namespace; the first child then exits.
func Exec(cfg ExecConfig) (*Process, error) {
	p, err := newExecPlan(cfg)
	if err != nil {
		return nil, fmt.Errorf("exec %s: %w", cfg.Argv[0], err)
	}
	defer p.close()
	pid, exit, err := reaper.StartFunc(p.start)
	if err != nil {
		return nil, fmt.Errorf("exec %s: %w", cfg.Argv[0], err)
	}
	return &Process{Pid: pid, PidFD: -1, Exit: exit}, nil
}

// execPlan is what the two children need, prepared by the parent.
type execPlan struct {
	first, second cloneArgs
	pidfd         int
	paths         []*byte // candidates, in order, as execvp tries them
	argv, envv    []*byte
	stdio         [3]int
	slash         *byte
	errR, errW    int
	dfl           sigaction
	ignored       []uintptr
	allSigs       uint64
	emptySigs     uint64
}

func newExecPlan(cfg ExecConfig) (*execPlan, error) {
	if len(cfg.Argv) == 0 {
		return nil, fmt.Errorf("no command")
	}
	p := &execPlan{pidfd: cfg.PidFD, stdio: cfg.Stdio, errR: -1, errW: -1, allSigs: ^uint64(0), ignored: ignoredSignals()}
	var cs cstrings
	cstr := cs.of
	p.slash = cstr("/")
	for _, c := range candidates(cfg.Argv[0], cfg.Path) {
		p.paths = append(p.paths, cstr(c))
	}
	for _, a := range cfg.Argv {
		p.argv = append(p.argv, cstr(a))
	}
	for _, e := range cfg.Env {
		p.envv = append(p.envv, cstr(e))
	}
	p.argv, p.envv = append(p.argv, nil), append(p.envv, nil)
	if cs.err != nil {
		return nil, cs.err
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	p.errR, p.errW = fds[0], fds[1]
	p.first = cloneArgs{exitSignal: uint64(unix.SIGCHLD)}
	// CLONE_PARENT makes the command the daemon's child; the kernel wants
	// exit_signal 0 with it and uses the first child's (SIGCHLD).
	p.second = cloneArgs{flags: unix.CLONE_PARENT | unix.CLONE_INTO_CGROUP, cgroup: uint64(cfg.CgroupFD)}
	return p, nil
}

func (p *execPlan) close() {
	for _, fd := range []int{p.errR, p.errW} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// start forks the first child and returns the command's pid, read from
// the pipe, or the reason it could not run. It runs under the reaper's
// lock: neither child can be reaped before the command's waiter exists
// (the first child's exit is reaped later as an orphan).
func (p *execPlan) start() (int, error) {
	syscall.ForkLock.Lock()
	_, errno := p.fork()
	syscall.ForkLock.Unlock()
	if errno != 0 {
		return 0, errno
	}
	unix.Close(p.errW)
	p.errW = -1
	// Records: (0, pid) when the command was forked, then (stage, errno)
	// if something failed; EOF once the command exec'd.
	var pid int
	for {
		rec, ok := readRecord(p.errR)
		if !ok {
			break
		}
		st := stage(binaryUint32(rec[:4]))
		val := binaryUint32(rec[4:])
		if st == 0 {
			pid = int(val)
			continue
		}
		return 0, &CommandError{Stage: st.String(), Errno: syscall.Errno(val)}
	}
	if pid == 0 {
		return 0, fmt.Errorf("the command was not started")
	}
	return pid, nil
}

func binaryUint32(b []byte) uint32 {
	return *(*uint32)(unsafe.Pointer(&b[0]))
}

//go:nosplit
//go:norace
func (p *execPlan) fork() (int, syscall.Errno) {
	var old uint64
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&p.allSigs)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	pid, _, errno := syscall.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&p.first)), unsafe.Sizeof(p.first), 0)
	if errno == 0 && pid == 0 {
		p.firstChild()
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	return int(pid), errno
}

// firstChild joins the instance's namespaces and forks the command.
//
//go:nosplit
//go:norace
func (p *execPlan) firstChild() {
	var rec [2]uint32
	if _, _, e := syscall.RawSyscall(unix.SYS_SETNS, uintptr(p.pidfd), Namespaces, 0); e != 0 {
		rec = [2]uint32{uint32(stageJoin), uint32(e)}
	} else {
		pid, _, e := syscall.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&p.second)), unsafe.Sizeof(p.second), 0)
		switch {
		case e != 0:
			rec = [2]uint32{uint32(stageFork), uint32(e)}
		case pid == 0:
			p.command()
		default:
			rec = [2]uint32{0, uint32(pid)}
		}
	}
	syscall.RawSyscall(unix.SYS_WRITE, uintptr(p.errW), uintptr(unsafe.Pointer(&rec)), 8)
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
}

// command is the command's own process until execve.
//
//go:nosplit
//go:norace
func (p *execPlan) command() {
	st, e := stageChdir, syscall.Errno(0)
	if _, _, e = syscall.RawSyscall(unix.SYS_CHDIR, uintptr(unsafe.Pointer(p.slash)), 0, 0); e == 0 {
		st = stageConsole
		for fd := 0; fd < 3 && e == 0; fd++ {
			_, _, e = syscall.RawSyscall(unix.SYS_DUP3, uintptr(p.stdio[fd]), uintptr(fd), 0)
		}
	}
	if e == 0 {
		st = stageSetsid
		_, _, e = syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0)
	}
	if e == 0 {
		st = stageCloseRange
		_, _, e = syscall.RawSyscall(unix.SYS_CLOSE_RANGE, 3, ^uintptr(0), unix.CLOSE_RANGE_CLOEXEC)
	}
	if e == 0 {
		for i := 0; i < len(p.ignored); i++ {
			syscall.RawSyscall6(unix.SYS_RT_SIGACTION, p.ignored[i], uintptr(unsafe.Pointer(&p.dfl)), 0, 8, 0, 0)
		}
		syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&p.emptySigs)), 0, 8, 0, 0)
		st = stageExecCommand
		e = p.execvp()
	}
	rec := [2]uint32{uint32(st), uint32(e)}
	syscall.RawSyscall(unix.SYS_WRITE, uintptr(p.errW), uintptr(unsafe.Pointer(&rec)), 8)
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 127, 0, 0)
	}
}

// execvp tries each candidate as execvp(3) does: on to the next when a
// directory has no such file; EACCES, if any candidate gave it, wins over
// ENOENT at the end, so "not executable" is not reported as "not found".
//
//go:nosplit
//go:norace
func (p *execPlan) execvp() syscall.Errno {
	last, denied := syscall.Errno(unix.ENOENT), false
	for i := 0; i < len(p.paths); i++ {
		_, _, e := syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(p.paths[i])),
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

// NotFound tells a command that is in none of the directories (a shell's
// status 127); NotExecutable one that was found but may not run (126).
func (e *CommandError) NotFound() bool {
	return e.Stage == stageExecCommand.String() && (e.Errno == unix.ENOENT || e.Errno == unix.ENOTDIR)
}

// NotExecutable: see NotFound.
func (e *CommandError) NotExecutable() bool {
	return e.Stage == stageExecCommand.String() && !e.NotFound()
}
