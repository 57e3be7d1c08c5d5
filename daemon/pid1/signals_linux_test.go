package pid1

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGuardSignals sends this process signals whose Go default is to end
// it (as PID 1 that would panic the kernel): guarded, it lives on, and a
// child it starts afterwards still has no signal ignored.
func TestGuardSignals(t *testing.T) {
	GuardSignals(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, sig := range []syscall.Signal{syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGHUP, syscall.SIGALRM, syscall.SIGXCPU, syscall.SIGPIPE} {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // any fatal default would have struck by now
	out, err := exec.Command("/bin/sh", "-c", "grep -E '^Sig(Ign|Blk):' /proc/self/status").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "SigIgn:\t0000000000000000") {
		t.Errorf("a child of the guarded process ignores signals:\n%s", out)
	}
}
