package nsexec

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// clone forks the plan's child with clone3 and returns its pid in the
// parent, then closes the parent's copy of the pipe's write end, so that
// the pipe ends when the child's copies do. The calling thread blocks
// every signal around the fork so that no Go signal handler ever runs in
// the child, which has no runtime of its own.
func (p *plan) clone() (int, error) {
	syscall.ForkLock.Lock()
	pid, errno := p.fork()
	syscall.ForkLock.Unlock()
	unix.Close(p.errW)
	p.errW = -1
	if errno != 0 {
		return 0, errno
	}
	return pid, nil
}

// fork is split from clone so that everything the child runs is nosplit:
// the child must never grow its stack or enter the runtime. It is the
// package's one fork: the child it starts boots an instance's init or
// runs exec's first child, as the plan says.
//
//go:nosplit
//go:norace
func (p *plan) fork() (int, syscall.Errno) {
	var old uint64
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&p.allSigs)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	pid, _, errno := syscall.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&p.args)), unsafe.Sizeof(p.args), 0)
	if errno == 0 && pid == 0 {
		if p.boot != nil {
			p.bootChild() // never returns
		} else {
			p.execChild() // never returns
		}
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	return int(pid), errno
}

// report writes a record on fd and ends the child with status code.
//
//go:nosplit
//go:norace
func report(fd uintptr, st stage, val uint32, code uintptr) {
	rec := [2]uint32{uint32(st), val}
	syscall.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&rec)), unsafe.Sizeof(rec))
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, code, 0, 0)
	}
}

// defaultSignals gives the child, about to exec, the signal state of a
// fresh process: execve resets handled signals but keeps ignored ones and
// the mask.
//
//go:nosplit
//go:norace
func (p *plan) defaultSignals() {
	for i := 0; i < len(p.ignored); i++ {
		syscall.RawSyscall6(unix.SYS_RT_SIGACTION, p.ignored[i], uintptr(unsafe.Pointer(&p.dfl)), 0, 8, 0, 0)
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&p.emptySigs)), 0, 8, 0, 0)
}
