package pid1

import "github.com/moby/sys/mountinfo"

// fsOpt is a mount flag, kept free of syscall constants so the plan is
// pure; mount_linux.go translates it.
type fsOpt uint

const (
	noSuid fsOpt = 1 << iota
	noDev
	noExec
)

// fsMount is a file system the kernel leaves to init to mount.
type fsMount struct {
	Target, FSType, Source string
	Opts                   fsOpt
	Data                   string
}

// apiMounts are the file systems of SPEC §8 in the order they must be
// mounted (each needs the one before it for its mount point), cgroup2
// apart.
var apiMounts = []fsMount{
	{"/proc", "proc", "proc", noSuid | noDev | noExec, ""},
	{"/sys", "sysfs", "sysfs", noSuid | noDev | noExec, ""},
	{"/dev", "devtmpfs", "devtmpfs", noSuid, "mode=0755"},
	// gid 5 is the tty group of every distribution; ptmxmode lets anyone
	// open /dev/pts/ptmx, which /dev/ptmx resolves to.
	{"/dev/pts", "devpts", "devpts", noSuid | noExec, "gid=5,mode=0620,ptmxmode=0666"},
	{"/run", "tmpfs", "tmpfs", noSuid | noDev, "mode=0755"},
}

// cgroupRoot is where PID 1 mounts cgroup2 when none is mounted.
const cgroupRoot = "/sys/fs/cgroup"

// planMounts returns what is missing from mounts (the parsed mountinfo),
// in order. A mount point already occupied by any file system is left as
// it is: whoever mounted it knew better. cgroup2 is planned only when no
// cgroup2 is mounted anywhere; if /sys/fs/cgroup holds something else (a
// cgroup v1 tmpfs), cgroup2 goes to its "unified" folder as hybrid hosts do.
func planMounts(mounts []*mountinfo.Info) []fsMount {
	var todo []fsMount
	for _, m := range apiMounts {
		if _, ok := mountedAt(mounts, m.Target); !ok {
			todo = append(todo, m)
		}
	}
	if hasFSType(mounts, "cgroup2") {
		return todo
	}
	cg := fsMount{cgroupRoot, "cgroup2", "cgroup2", noSuid | noDev | noExec, ""}
	if _, ok := mountedAt(mounts, cgroupRoot); ok {
		cg.Target = cgroupRoot + "/unified"
	}
	return append(todo, cg)
}

// rootReadOnly reports whether / is mounted read-only.
func rootReadOnly(mounts []*mountinfo.Info) bool {
	m, ok := mountedAt(mounts, "/")
	return ok && readOnly(m)
}
