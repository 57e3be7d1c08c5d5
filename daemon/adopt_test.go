package daemon_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAdoptionFindsTheRealInit: a PID namespace nested inside the instance
// (unshare -p -f, Docker), whose PID 1 sits in a child cgroup that the walk
// of the instance's cgroup reaches first, is not taken for the instance's
// init when a restarted daemon adopts it: the real init is, and stop asks
// it to halt.
func TestAdoptionFindsTheRealInit(t *testing.T) {
	e := startCapped(t).box()
	pid := e.state("box").Pid
	nested := filepath.Join(e.cgroup, "box", "0nested") // before cgroup.procs
	if err := os.Mkdir(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	// Born in the child cgroup, inside the instance's PID namespace, then
	// in a namespace of its own: sleep is PID 1 there.
	cmd := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && exec nsenter --target "$2" --pid -- unshare --pid --fork sleep 1000`,
		"sh", nested, strconv.Itoa(pid))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	e.waitFor("a nested PID 1 in "+nested, func() bool {
		for _, p := range pidsIn(nested) {
			if status, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/status"); err == nil &&
				strings.HasPrefix(string(status), "Name:\tsleep\n") {
				return true
			}
		}
		return false
	})
	e.daemon.Process.Kill()
	<-e.exited
	e.start()
	e.resetPeak()
	if st := e.state("box"); st.State != "running" || st.Pid != pid {
		t.Fatalf("after restart: %+v, want running with pid %d (the real init)", st, pid)
	}
	start := time.Now()
	e.ok("stop", "box")
	if _, err := os.Stat(filepath.Join(e.rootfs("box"), "halted")); err != nil {
		t.Fatalf("the real init was not asked to halt (stop took %v)", time.Since(start))
	}
	e.groupGone("box")
	e.withinBudget(32 << 20)
}

func pidsIn(cgroup string) []int {
	data, _ := os.ReadFile(filepath.Join(cgroup, "cgroup.procs"))
	var pids []int
	for _, w := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(w); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}
