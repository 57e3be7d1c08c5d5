package pid1

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// guardedSignals are the signals whose Go default is to end the process:
// at PID 1 that is a kernel panic, since the kernel's own rule (a signal
// init leaves at SIG_DFL is dropped) does not apply once the Go runtime
// has installed its handlers (golang/go#59569). SIGINT, SIGTERM, SIGUSR2
// and SIGPWR are the daemon's reboot and poweroff; they are guarded too
// for the time before the daemon asks for them (Ctrl+Alt+Del during
// module loading must not panic the kernel). SIGCHLD is the reaper's and
// SIGURG the runtime's own, so neither is here.
var guardedSignals = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGILL, syscall.SIGTRAP,
	syscall.SIGABRT, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGUSR1, syscall.SIGSEGV,
	syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGALRM, syscall.SIGTERM, syscall.SIGSTKFLT,
	syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGXCPU, syscall.SIGXFSZ,
	syscall.SIGVTALRM, syscall.SIGPROF, syscall.SIGIO, syscall.SIGPWR, syscall.SIGSYS,
}

// guardSignals makes every signal that would end the Go process a no-op
// for it: each is caught (signal.Notify) and dropped with a debug log.
// Signals the daemon also asks for with signal.Notify still reach it, as
// every channel gets its copy. Catching, unlike signal.Ignore, leaves the
// children the daemon starts with default dispositions: exec resets caught
// signals, not ignored ones. Synchronous faults still crash as they must.
func guardSignals(log *slog.Logger) {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, guardedSignals...)
	go func() {
		for s := range ch {
			log.Debug("signal caught by the PID 1 guard", "signal", s)
		}
	}()
}
