package cgroupfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrTimeout means the kernel did not confirm a cgroup state in time.
var ErrTimeout = errors.New("timed out waiting for the cgroup")

// delegated are the controllers enabled for descendants, best effort, so an
// instance may run its own cgroup-using software.
var delegated = []string{"cpu", "cpuset", "io", "memory", "pids"}

// Parent is the cgroup under which every instance's cgroup is created.
type Parent struct {
	Path string
}

// OpenParent creates the parent cgroup if needed and delegates the
// controllers it can. Delegation failures are not errors: a hybrid host has
// no controllers on its cgroup2 tree, and instances still run.
func OpenParent(path string) (*Parent, error) {
	if !isCgroup2(filepath.Dir(path)) && !isCgroup2(path) {
		return nil, fmt.Errorf("parent cgroup %s: not inside a cgroup2 file system", path)
	}
	if err := os.Mkdir(path, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create parent cgroup: %w", err)
	}
	enableControllers(filepath.Dir(path))
	enableControllers(path)
	return &Parent{Path: path}, nil
}

func enableControllers(dir string) {
	avail, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return
	}
	have := strings.Fields(string(avail))
	for _, c := range delegated {
		for _, h := range have {
			if h == c {
				// One write per controller: one refused (say cpuset on a
				// busy tree) must not keep the others from being enabled.
				_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+c), 0)
			}
		}
	}
}

// Group is one instance's cgroup.
type Group struct {
	Path string
}

// Group returns the (possibly not yet existing) cgroup of an instance.
func (p *Parent) Group(name string) *Group {
	return &Group{Path: filepath.Join(p.Path, name)}
}

// Children lists the instance cgroups that exist under the parent.
func (p *Parent) Children() ([]string, error) {
	ents, err := os.ReadDir(p.Path)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", p.Path, err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Exists reports whether the cgroup directory exists.
func (g *Group) Exists() bool {
	_, err := os.Stat(filepath.Join(g.Path, "cgroup.procs"))
	return err == nil
}

// Create makes a fresh, empty cgroup. A leftover one from an earlier run is
// killed and removed first, so a new instance never starts in a stale cgroup.
func (g *Group) Create() error {
	if g.Exists() {
		if err := g.Destroy(5 * time.Second); err != nil {
			return fmt.Errorf("remove stale cgroup: %w", err)
		}
	}
	if err := os.Mkdir(g.Path, 0o755); err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	return nil
}

// OpenDir opens the cgroup directory for clone3's CLONE_INTO_CGROUP.
func (g *Group) OpenDir() (int, error) {
	fd, err := unix.Open(g.Path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open cgroup %s: %w", g.Path, err)
	}
	return fd, nil
}

// OpenLeaf makes (if needed) and opens the child cgroup name, for
// CLONE_INTO_CGROUP. cgroup v2's no-internal-process rule refuses new
// processes in a cgroup whose subtree_control enables a controller, which
// an init that manages its own subtree (systemd) does to its top cgroup;
// a child of initns's own is a leaf, where a process may always be born,
// and is still inside the group, so freeze, kill and Destroy cover it.
func (g *Group) OpenLeaf(name string) (int, error) {
	leaf := &Group{Path: filepath.Join(g.Path, name)}
	if err := os.Mkdir(leaf.Path, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return -1, fmt.Errorf("create cgroup %s: %w", leaf.Path, err)
	}
	if !leaf.Exists() {
		return -1, fmt.Errorf("%s is not a cgroup", leaf.Path)
	}
	return leaf.OpenDir()
}

// Freeze freezes every task in the cgroup and returns once cgroup.events
// says "frozen 1". On timeout the cgroup is left freezing; call Thaw.
func (g *Group) Freeze(timeout time.Duration) error {
	if err := g.write("cgroup.freeze", "1"); err != nil {
		return err
	}
	return g.waitEvent("frozen", "1", timeout)
}

// Thaw thaws the cgroup and returns once cgroup.events says "frozen 0".
func (g *Group) Thaw(timeout time.Duration) error {
	if err := g.write("cgroup.freeze", "0"); err != nil {
		return err
	}
	return g.waitEvent("frozen", "0", timeout)
}

// Frozen reports whether the kernel says the cgroup is frozen.
func (g *Group) Frozen() (bool, error) {
	ev, err := g.events()
	return ev["frozen"] == "1", err
}

// Kill sends SIGKILL to every task in the cgroup and its descendants.
func (g *Group) Kill() error {
	return g.write("cgroup.kill", "1")
}

// WaitEmpty returns once cgroup.events says "populated 0".
func (g *Group) WaitEmpty(timeout time.Duration) error {
	return g.waitEvent("populated", "0", timeout)
}

// Destroy kills everything in the cgroup, waits for it to empty and removes
// it with every descendant cgroup an instance made.
func (g *Group) Destroy(timeout time.Duration) error {
	if !g.Exists() {
		return nil
	}
	if err := g.Kill(); err != nil {
		return err
	}
	if err := g.WaitEmpty(timeout); err != nil {
		return fmt.Errorf("%w; tasks still inside: %s", err, strings.Join(g.Tasks(), ", "))
	}
	return g.Remove()
}

// Remove removes an empty cgroup and its descendants, depth first.
func (g *Group) Remove() error {
	return removeTree(g.Path)
}

func removeTree(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := unix.Rmdir(dir); err != nil && err != unix.ENOENT {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	return nil
}

// Pids lists the processes in the cgroup and its descendants.
func (g *Group) Pids() []int {
	var pids []int
	_ = filepath.WalkDir(g.Path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		data, _ := os.ReadFile(p)
		for _, w := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(w); err == nil {
				pids = append(pids, n)
			}
		}
		return nil
	})
	return pids
}

// Tasks names the processes in the cgroup as "PID (comm) state", for
// errors a person can act on.
func (g *Group) Tasks() []string {
	var out []string
	for _, pid := range g.Pids() {
		out = append(out, describe(pid))
	}
	return out
}

func describe(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return strconv.Itoa(pid)
	}
	// comm is in parentheses and may contain spaces; state follows the last ')'.
	s := string(data)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open || close+2 >= len(s) {
		return strconv.Itoa(pid)
	}
	return fmt.Sprintf("%d (%s) %c", pid, s[open+1:close], s[close+2])
}

func (g *Group) write(file, data string) error {
	p := filepath.Join(g.Path, file)
	if err := os.WriteFile(p, []byte(data), 0); err != nil {
		return fmt.Errorf("write %q to %s: %w", data, p, err)
	}
	return nil
}

func (g *Group) events() (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(g.Path, "cgroup.events"))
	if err != nil {
		return nil, err
	}
	return ParseEvents(bytes.NewReader(data)), nil
}

// waitEvent waits for cgroup.events to show key=want. The kernel signals a
// change of cgroup.events as POLLPRI on an open file, so this sleeps in poll
// rather than in a loop.
func (g *Group) waitEvent(key, want string, timeout time.Duration) error {
	p := filepath.Join(g.Path, "cgroup.events")
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) && key == "populated" && want == "0" {
			return nil
		}
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 512)
	// The kernel sends at most one notification per file every 20 ms
	// (CGROUP_FILE_NOTIFY_MIN_INTV, kernel/cgroup/cgroup.c): a freeze
	// right after a thaw would be seen up to 20 ms late. So the file is
	// read again after 0.25, 0.5, 1, 2, 4, 8 and 16 ms too; past that the
	// notification itself comes in time.
	recheck := 250 * time.Microsecond
	for {
		n, err := unix.Pread(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if ParseEvents(bytes.NewReader(buf[:n]))[key] == want {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%s: %s never became %s: %w", g.Path, key, want, ErrTimeout)
		}
		wait := left
		if recheck <= notifyInterval {
			wait, recheck = min(left, recheck), recheck*2
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
		ts := unix.NsecToTimespec(wait.Nanoseconds())
		if _, err := unix.Ppoll(fds, &ts, nil); err != nil && err != unix.EINTR {
			return fmt.Errorf("poll %s: %w", p, err)
		}
	}
}

// notifyInterval is the kernel's least time between two notifications of
// one cgroup file.
const notifyInterval = 20 * time.Millisecond

// ParseEvents parses the "key value" lines of cgroup.events.
func ParseEvents(r io.Reader) map[string]string {
	ev := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok {
			ev[k] = v
		}
	}
	return ev
}
