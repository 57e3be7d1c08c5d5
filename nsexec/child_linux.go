package nsexec

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bootPlan is what the child that becomes an instance's init needs, on
// top of its plan.
type bootPlan struct {
	rootfs    *byte
	dot, none *byte
	init      *byte
	dev       *byte // "/dev", and the file system type mounted there
	devtmpfs  *byte
	binds     []bindPlan
	console   int
}

// bindPlan is one read-only bind mount of a host directory into the
// instance's root, as C strings.
type bindPlan struct{ source, target *byte }

// newBootPlan prepares the boot of cfg: init's arguments and environment,
// the console, the pipe, and clone3's flags.
func newBootPlan(cfg Config) (*plan, error) {
	var cs cstrings
	b := &bootPlan{
		rootfs: cs.of(cfg.Rootfs), dot: cs.of("."), none: cs.of("none"), init: cs.of(Init),
		dev: cs.of("/dev"), devtmpfs: cs.of("devtmpfs"), console: -1,
	}
	for _, m := range cfg.ReadOnly {
		b.binds = append(b.binds, bindPlan{source: cs.of(m.Source), target: cs.of(m.Target)})
	}
	// The environment and arguments the kernel gives PID 1, and the
	// daemon's words (container=, see Config.Env).
	p := newPlan(&cs, []string{Init}, append([]string{"HOME=/", "TERM=linux"}, cfg.Env...))
	p.boot = b
	if cs.err != nil {
		return nil, cs.err
	}
	var err error
	if b.console, err = unix.Open(cfg.Console, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("open console %s: %w", cfg.Console, err)
	}
	if err := p.openPipe(); err != nil {
		p.close()
		return nil, err
	}
	// p is on the heap, which Go never moves: the kernel may write there.
	p.args = cloneArgs{
		flags:      Namespaces | unix.CLONE_INTO_CGROUP | unix.CLONE_PIDFD,
		pidfd:      uint64(uintptr(unsafe.Pointer(&p.pidfd))),
		exitSignal: uint64(unix.SIGCHLD),
		cgroup:     uint64(cfg.CgroupFD),
	}
	return p, nil
}

// bootChild runs in the new namespaces, as their PID 1, until execve.
//
//go:nosplit
//go:norace
func (p *plan) bootChild() {
	errFD := uintptr(p.errW)
	step, errno := p.descriptors()
	if errno == 0 {
		errFD = childErrFD
		step, errno = p.enter()
	}
	if errno == 0 {
		step, errno = p.execInit()
	}
	report(errFD, step, uint32(errno), 1)
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
		if uintptr(p.boot.console) == fd {
			continue // a daemon started without stdio opened it there
		}
		if _, _, e := syscall.RawSyscall(unix.SYS_DUP3, uintptr(p.boot.console), fd, 0); e != 0 {
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
	if _, _, e := syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(p.boot.none)), uintptr(unsafe.Pointer(p.slash)), 0, unix.MS_REC|unix.MS_PRIVATE, 0, 0); e != 0 {
		return stagePrivate, e
	}
	// pivot_root needs the new root to be a mount point.
	if _, _, e := syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(p.boot.rootfs)), uintptr(unsafe.Pointer(p.boot.rootfs)), 0, unix.MS_BIND|unix.MS_REC, 0, 0); e != 0 {
		return stageBind, e
	}
	if step, e := p.bindReadOnly(); e != 0 {
		return step, e
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_CHDIR, uintptr(unsafe.Pointer(p.boot.rootfs)), 0, 0); e != 0 {
		return stageEnter, e
	}
	// pivot_root(".", ".") stacks the old root on top of the new one, so no
	// directory for it is needed inside the instance; detach it at once.
	_, _, e := syscall.RawSyscall(unix.SYS_PIVOT_ROOT, uintptr(unsafe.Pointer(p.boot.dot)), uintptr(unsafe.Pointer(p.boot.dot)), 0)
	switch e {
	case 0:
		if _, _, e := syscall.RawSyscall(unix.SYS_UMOUNT2, uintptr(unsafe.Pointer(p.boot.dot)), unix.MNT_DETACH, 0); e != 0 {
			return stageDetach, e
		}
	case unix.EINVAL:
		// The initramfs "rootfs" can never be unmounted, so the kernel
		// refuses to pivot away from it: move the new root over / instead.
		if _, _, e := syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(p.boot.dot)), uintptr(unsafe.Pointer(p.slash)), 0, unix.MS_MOVE, 0, 0); e != 0 {
			return stageMove, e
		}
		if _, _, e := syscall.RawSyscall(unix.SYS_CHROOT, uintptr(unsafe.Pointer(p.boot.dot)), 0, 0); e != 0 {
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
	_, _, e = syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(p.boot.devtmpfs)), uintptr(unsafe.Pointer(p.boot.dev)),
		uintptr(unsafe.Pointer(p.boot.devtmpfs)), unix.MS_NOSUID, 0, 0)
	if e != 0 && e != unix.ENOENT {
		return stageDev, e
	}
	return 0, 0
}

// bindReadOnly mounts the host's directories of the plan (the running
// kernel's modules and firmware) read-only at their targets, host paths
// inside the root that the daemon made sure exist. It runs while the host's
// tree is still in view, after the root's bind on itself, so pivot_root
// carries the mounts along; the private / keeps them out of the host.
//
//go:nosplit
//go:norace
func (p *plan) bindReadOnly() (stage, syscall.Errno) {
	for i := range p.boot.binds {
		m := &p.boot.binds[i]
		if _, _, e := syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(m.source)), uintptr(unsafe.Pointer(m.target)), 0, unix.MS_BIND, 0, 0); e != 0 {
			return stageBindHost, e
		}
		// A bind mount takes the source's flags; read-only takes a
		// remount of the new mount alone (MS_BIND with MS_REMOUNT), which
		// leaves the host's mount as it was.
		if _, _, e := syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(p.boot.none)), uintptr(unsafe.Pointer(m.target)), 0,
			unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, 0, 0); e != 0 {
			return stageReadOnly, e
		}
	}
	return 0, 0
}

// execInit gives init what the kernel gives PID 1 and execs it.
//
//go:nosplit
//go:norace
func (p *plan) execInit() (stage, syscall.Errno) {
	if _, _, e := syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0); e != 0 {
		return stageSetsid, e
	}
	p.defaultSignals()
	_, _, e := syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(p.boot.init)),
		uintptr(unsafe.Pointer(&p.argv[0])), uintptr(unsafe.Pointer(&p.envv[0])))
	return stageExec, e
}
