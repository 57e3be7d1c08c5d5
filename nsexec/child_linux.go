package nsexec

import (
	"fmt"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// stage names the step of the child that failed.
type stage uint32

const (
	stagePrivate stage = iota + 1
	stageBind
	stageEnter
	stagePivot
	stageDetach
	stageMove
	stageChroot
	stageChdir
	stageConsole
	stageSetsid
	stageCloseRange
	stageExec
	stageJoin
	stageFork
	stageExecCommand
	stageDev
)

func (s stage) String() string {
	names := [...]string{"", "make / private", "bind the root filesystem on itself", "enter the root filesystem",
		"pivot_root", "detach the old root", "move the root filesystem over /", "chroot", "chdir /",
		"set up stdin, stdout and stderr", "setsid", "close the daemon's descriptors", "exec " + Init,
		"join the instance's namespaces", "fork the command", "exec the command", "mount devtmpfs on /dev"}
	if int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprintf("step %d", s)
}

// Namespaces are the namespaces an instance gets of its own (SPEC §6): its
// PIDs, mounts and cgroup view, and its hostname and SysV IPC, so each
// system keeps its own name. Network, devices and time stay the host's:
// the instance is the machine's operating system while it runs.
const Namespaces = unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC

// cloneArgs is struct clone_args of linux/sched.h (version 2, with cgroup).
type cloneArgs struct {
	flags      uint64
	pidfd      uint64
	childTID   uint64
	parentTID  uint64
	exitSignal uint64
	stack      uint64
	stackSize  uint64
	tls        uint64
	setTID     uint64
	setTIDSize uint64
	cgroup     uint64
}

// sigaction is the kernel's struct sigaction for rt_sigaction.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// plan is everything the child needs, prepared by the parent: after clone
// the child may only read memory and make raw system calls.
type plan struct {
	args       cloneArgs
	rootfs     *byte
	dot, slash *byte
	none       *byte
	init       *byte
	dev        *byte // "/dev", and the file system type mounted there
	devtmpfs   *byte
	argv, envv []*byte
	console    int
	errR, errW int
	dfl        sigaction
	ignored    []uintptr // signals ignored in the daemon, to reset
	allSigs    uint64
	emptySigs  uint64
}

func newPlan(cfg Config) (*plan, error) {
	p := &plan{console: -1, errR: -1, errW: -1, allSigs: ^uint64(0), ignored: ignoredSignals()}
	var cs cstrings
	cstr := cs.of
	p.rootfs, p.dot, p.slash, p.none, p.init = cstr(cfg.Rootfs), cstr("."), cstr("/"), cstr("none"), cstr(Init)
	p.dev, p.devtmpfs = cstr("/dev"), cstr("devtmpfs")
	// The environment and arguments the kernel gives PID 1, and an empty
	// container=: systemd's documented way of saying "not a container"
	// (any other value names a container manager). Without it, systemd
	// guesses from its cgroup namespace on a cgroup2-only machine that it
	// is one, and leaves out what a machine's OS does: udev, the hardware
	// setup. An instance owns the machine's devices and consoles while it
	// runs. Other inits ignore the variable.
	p.argv = []*byte{cstr(Init), nil}
	p.envv = []*byte{cstr("HOME=/"), cstr("TERM=linux"), cstr("container="), nil}
	if cs.err != nil {
		return nil, cs.err
	}
	var err error
	if p.console, err = unix.Open(cfg.Console, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("open console %s: %w", cfg.Console, err)
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		p.close()
		return nil, err
	}
	p.errR, p.errW = fds[0], fds[1]
	p.args = cloneArgs{
		flags:      Namespaces | unix.CLONE_INTO_CGROUP | unix.CLONE_PIDFD,
		exitSignal: uint64(unix.SIGCHLD),
		cgroup:     uint64(cfg.CgroupFD),
	}
	return p, nil
}

// cstrings makes the C strings a child uses, keeping the first error (a
// NUL byte in a string).
type cstrings struct{ err error }

func (c *cstrings) of(s string) *byte {
	b, err := unix.BytePtrFromString(s)
	if err != nil && c.err == nil {
		c.err = err
	}
	return b
}

// ignoredSignals lists the signals the daemon ignores (inherited SIG_IGN,
// as under nohup), read once: the Go runtime never ignores one by itself.
var ignoredSignals = sync.OnceValue(func() []uintptr {
	var sigs []uintptr
	for sig := uintptr(1); sig <= 64; sig++ {
		var old sigaction
		_, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0)
		if e == 0 && old.handler == 1 { // SIG_IGN
			sigs = append(sigs, sig)
		}
	}
	return sigs
})

func (p *plan) close() {
	for _, fd := range []int{p.console, p.errR, p.errW} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// clone forks the child with clone3 and returns its pid in the parent. The
// calling thread blocks every signal around the fork so that no Go signal
// handler ever runs in the child, which has no runtime of its own.
func (p *plan) clone(pidfd *int32) (int, error) {
	p.args.pidfd = uint64(uintptr(unsafe.Pointer(pidfd)))
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	pid, errno := p.fork()
	if errno != 0 {
		return 0, errno
	}
	return pid, nil
}

// fork is split from clone so that everything the child runs is nosplit:
// the child must never grow its stack or enter the runtime.
//
//go:nosplit
//go:norace
func (p *plan) fork() (int, syscall.Errno) {
	var old uint64
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&p.allSigs)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	pid, _, errno := syscall.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&p.args)), unsafe.Sizeof(p.args), 0)
	if errno == 0 && pid == 0 {
		p.child() // never returns
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	return int(pid), errno
}

// child runs in the new namespaces, as their PID 1, until execve.
//
//go:nosplit
//go:norace
func (p *plan) child() {
	errFD := uintptr(p.errW)
	step, errno := p.descriptors()
	if errno == 0 {
		errFD = childErrFD
		step, errno = p.enter()
	}
	if errno == 0 {
		step, errno = p.exec()
	}
	rec := [2]uint32{uint32(step), uint32(errno)}
	syscall.RawSyscall(unix.SYS_WRITE, errFD, uintptr(unsafe.Pointer(&rec)), 8)
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 1, 0, 0)
	}
}

// childErrFD is where the child keeps the error pipe once it has dropped
// every other descriptor of the daemon's.
const childErrFD = 3

// descriptors gives the child the console on 0, 1 and 2 and the error
// pipe on 3, and closes every other descriptor at once: a daemon killed
// meanwhile must not live on in its half-made child, holding its listening
// socket or state-root lock until the exec.
//
//go:nosplit
//go:norace
func (p *plan) descriptors() (stage, syscall.Errno) {
	// The console first: 0-2 hold nothing the child needs. Then the pipe
	// onto 3, which may be where the console was.
	for fd := uintptr(0); fd < 3; fd++ {
		if uintptr(p.console) == fd {
			continue // a daemon started without stdio opened it there
		}
		if _, _, e := syscall.RawSyscall(unix.SYS_DUP3, uintptr(p.console), fd, 0); e != 0 {
			return stageConsole, e
		}
	}
	if p.errW != childErrFD {
		if _, _, e := syscall.RawSyscall(unix.SYS_DUP3, uintptr(p.errW), childErrFD, unix.O_CLOEXEC); e != 0 {
			return stageConsole, e
		}
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_CLOSE_RANGE, childErrFD+1, ^uintptr(0), 0); e != 0 {
		return stageCloseRange, e
	}
	return 0, 0
}

// enter makes the root filesystem the root of the new mount namespace.
//
//go:nosplit
//go:norace
func (p *plan) enter() (stage, syscall.Errno) {
	// Without this, the mounts below would propagate to the host's shared
	// mounts (systemd makes / shared).
	if _, _, e := syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(p.none)), uintptr(unsafe.Pointer(p.slash)), 0, unix.MS_REC|unix.MS_PRIVATE, 0, 0); e != 0 {
		return stagePrivate, e
	}
	// pivot_root needs the new root to be a mount point.
	if _, _, e := syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(p.rootfs)), uintptr(unsafe.Pointer(p.rootfs)), 0, unix.MS_BIND|unix.MS_REC, 0, 0); e != 0 {
		return stageBind, e
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_CHDIR, uintptr(unsafe.Pointer(p.rootfs)), 0, 0); e != 0 {
		return stageEnter, e
	}
	// pivot_root(".", ".") stacks the old root on top of the new one, so no
	// directory for it is needed inside the instance; detach it at once.
	_, _, e := syscall.RawSyscall(unix.SYS_PIVOT_ROOT, uintptr(unsafe.Pointer(p.dot)), uintptr(unsafe.Pointer(p.dot)), 0)
	switch e {
	case 0:
		if _, _, e := syscall.RawSyscall(unix.SYS_UMOUNT2, uintptr(unsafe.Pointer(p.dot)), unix.MNT_DETACH, 0); e != 0 {
			return stageDetach, e
		}
	case unix.EINVAL:
		// The initramfs "rootfs" can never be unmounted, so the kernel
		// refuses to pivot away from it: move the new root over / instead.
		if _, _, e := syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(p.dot)), uintptr(unsafe.Pointer(p.slash)), 0, unix.MS_MOVE, 0, 0); e != 0 {
			return stageMove, e
		}
		if _, _, e := syscall.RawSyscall(unix.SYS_CHROOT, uintptr(unsafe.Pointer(p.dot)), 0, 0); e != 0 {
			return stageChroot, e
		}
	default:
		return stagePivot, e
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_CHDIR, uintptr(unsafe.Pointer(p.slash)), 0, 0); e != 0 {
		return stageChdir, e
	}
	// Every Debian init starts with /dev a devtmpfs: the kernel does not
	// mount one (CONFIG_DEVTMPFS_MOUNT is off), initramfs-tools does and
	// moves it onto the real root, and sysvinit, runit and OpenRC trees
	// rely on it for /dev/console and the ttys their gettys open. The same
	// here; a root without /dev gets nothing.
	_, _, e = syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(p.devtmpfs)), uintptr(unsafe.Pointer(p.dev)),
		uintptr(unsafe.Pointer(p.devtmpfs)), unix.MS_NOSUID, 0, 0)
	if e != 0 && e != unix.ENOENT {
		return stageDev, e
	}
	return 0, 0
}

// exec gives init what the kernel gives PID 1 and execs it.
//
//go:nosplit
//go:norace
func (p *plan) exec() (stage, syscall.Errno) {
	if _, _, e := syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0); e != 0 {
		return stageSetsid, e
	}
	// Default dispositions: execve resets handled signals but keeps
	// ignored ones.
	for i := 0; i < len(p.ignored); i++ {
		syscall.RawSyscall6(unix.SYS_RT_SIGACTION, p.ignored[i], uintptr(unsafe.Pointer(&p.dfl)), 0, 8, 0, 0)
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&p.emptySigs)), 0, 8, 0, 0)
	_, _, e := syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(p.init)),
		uintptr(unsafe.Pointer(&p.argv[0])), uintptr(unsafe.Pointer(&p.envv[0])))
	return stageExec, e
}
