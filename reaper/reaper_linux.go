package reaper

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

var (
	mu      sync.Mutex
	waiters = map[int]chan Exit{}
	once    sync.Once
	orphans func(Exit)
)

// Start starts a process with syscall.ForkExec semantics and returns its pid
// and a channel that receives its exit exactly once. The fork happens under
// the reaper's lock, so the child cannot be reaped before its waiter exists.
func Start(argv0 string, argv []string, attr *syscall.ProcAttr) (int, <-chan Exit, error) {
	return StartFunc(func() (int, error) { return syscall.ForkExec(argv0, argv, attr) })
}

// OnOrphan sets a function called (from the reaper goroutine) for every
// reaped process that no Start caller waits for.
func OnOrphan(f func(Exit)) {
	mu.Lock()
	orphans = f
	mu.Unlock()
}

// Run starts reaping at once (PID 1 must reap orphans from its first
// moment); Start does it too. It reaps on every SIGCHLD; the kernel
// coalesces SIGCHLDs, so each wake drains every exited child.
func Run() {
	once.Do(func() {
		sig := make(chan os.Signal, 64)
		signal.Notify(sig, syscall.SIGCHLD)
		go func() {
			for {
				reap()
				<-sig
			}
		}()
	})
}

func reap() {
	for {
		mu.Lock()
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			mu.Unlock()
			continue
		}
		if err != nil || pid <= 0 {
			mu.Unlock()
			return
		}
		e := Exit{Pid: pid, Status: ws}
		ch, ok := waiters[pid]
		delete(waiters, pid)
		f := orphans
		mu.Unlock()
		if ok {
			ch <- e
		} else if f != nil {
			f(e)
		}
	}
}

// StartFunc runs start, which forks a child and returns its pid, under the
// reaper's lock, and returns a channel that receives the child's exit.
func StartFunc(start func() (int, error)) (int, <-chan Exit, error) {
	Run()
	mu.Lock()
	defer mu.Unlock()
	pid, err := start()
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan Exit, 1)
	waiters[pid] = ch
	return pid, ch, nil
}
