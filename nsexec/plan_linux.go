package nsexec

import (
	"encoding/binary"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

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

// plan is everything a child needs, prepared by the parent: after clone
// the child may only read memory and make raw system calls. Exactly one
// of boot and exec is set, and says which child fork starts.
type plan struct {
	args       cloneArgs // of the one child fork makes
	pidfd      int32     // where clone3 puts the child's pidfd (CLONE_PIDFD)
	argv, envv []*byte   // NULL-terminated
	slash      *byte
	errR, errW int // the pipe a child's failure record comes back on
	dfl        sigaction
	ignored    []uintptr // signals ignored in the daemon, to reset
	allSigs    uint64
	emptySigs  uint64
	boot       *bootPlan
	exec       *execPlan
}

// newPlan prepares what every child needs: argv and envv as C strings
// (through cs, which keeps the first error) and the dispositions to
// reset. The pipe is made by openPipe, once nothing else can fail.
func newPlan(cs *cstrings, argv, env []string) *plan {
	return &plan{
		pidfd: -1, errR: -1, errW: -1, allSigs: ^uint64(0), ignored: ignoredSignals(),
		slash: cs.of("/"), argv: cs.list(argv), envv: cs.list(env),
	}
}

// openPipe makes the close-on-exec pipe a child reports a failure on: it
// closes without data when the exec succeeds.
func (p *plan) openPipe() error {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	p.errR, p.errW = fds[0], fds[1]
	return nil
}

func (p *plan) close() {
	fds := []int{p.errR, p.errW}
	if p.boot != nil {
		fds = append(fds, p.boot.console)
	}
	for _, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	p.errR, p.errW = -1, -1
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

// list makes a NULL-terminated array of C strings, as execve wants.
func (c *cstrings) list(ss []string) []*byte {
	out := make([]*byte, 0, len(ss)+1)
	for _, s := range ss {
		out = append(out, c.of(s))
	}
	return append(out, nil)
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

// record is what a child writes on the error pipe before it exits: the
// stage that failed and its errno, or, for stage 0, the pid of exec's
// command. The child writes it as two native uint32s (see report).
type record struct {
	stage stage
	val   uint32
}

// errno is the record's value as the errno it is for a failed stage.
func (r record) errno() syscall.Errno { return syscall.Errno(r.val) }

// readRecord reads one record from the pipe, if a whole one came before
// it closed.
func readRecord(fd int) (record, bool) {
	var b [8]byte
	got := 0
	for got < len(b) {
		n, err := unix.Read(fd, b[got:])
		if err == unix.EINTR {
			continue
		}
		if n <= 0 {
			break
		}
		got += n
	}
	if got < len(b) {
		return record{}, false
	}
	return record{stage(binary.NativeEndian.Uint32(b[:4])), binary.NativeEndian.Uint32(b[4:])}, true
}
