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
	// Whatever this test process inherited ignored (from whoever started
	// go test) its children inherit too; the guard must add nothing.
	inherited := sigIgn(t, "/proc/self/status")
	guardSignals(slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	if !strings.Contains(string(out), "SigIgn:\t"+inherited) {
		t.Errorf("a child of the guarded process ignores signals (inherited: %s):\n%s", inherited, out)
	}
}

// sigIgn returns the SigIgn mask of a /proc status file.
func sigIgn(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "SigIgn:\t"); ok {
			return v
		}
	}
	t.Fatalf("no SigIgn in %s", path)
	return ""
}
