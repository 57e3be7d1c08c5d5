package pid1

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// readMounts parses /proc/self/mountinfo. Not mountinfo.GetMounts: it
// decides once whether /proc/thread-self exists, and at boot it is read
// before /proc is mounted.
func readMounts() ([]*mountinfo.Info, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return mountinfo.GetMountsFromReader(f, nil)
}

// mountAPI mounts what is missing of /proc, /sys, /dev, /dev/pts, /run and
// cgroup2, and remounts / read-write if it is read-only. Each failure is
// logged and the rest still tried.
func mountAPI(log *slog.Logger) {
	mounts, err := readMounts()
	if err != nil {
		// No /proc yet (the usual case at boot): mount it to read the rest.
		if err := doMount(apiMounts[0]); err != nil {
			log.Error("mount", "target", "/proc", "err", err)
			return
		}
		if mounts, err = readMounts(); err != nil {
			log.Error("read mountinfo", "err", err)
			return
		}
	}
	for _, m := range planMounts(mounts) {
		if err := doMount(m); err != nil {
			log.Error("mount", "target", m.Target, "fstype", m.FSType, "err", err)
			continue
		}
		log.Info("mounted", "target", m.Target, "fstype", m.FSType)
	}
	if rootReadOnly(mounts) {
		// MS_REMOUNT without MS_RDONLY makes both the superblock and this
		// mount writable, as `mount -o remount,rw /` does.
		if err := unix.Mount("", "/", "", unix.MS_REMOUNT, ""); err != nil {
			log.Error("remount / read-write", "err", err)
		} else {
			log.Info("remounted / read-write")
		}
	}
}

// doMount creates the mount point and mounts m on it.
func doMount(m fsMount) error {
	if err := os.MkdirAll(m.Target, 0o755); err != nil {
		return fmt.Errorf("mount point %s: %w", m.Target, err)
	}
	var flags uintptr
	if m.Opts&noSuid != 0 {
		flags |= unix.MS_NOSUID
	}
	if m.Opts&noDev != 0 {
		flags |= unix.MS_NODEV
	}
	if m.Opts&noExec != 0 {
		flags |= unix.MS_NOEXEC
	}
	if err := unix.Mount(m.Source, m.Target, m.FSType, flags, m.Data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.FSType, m.Target, err)
	}
	return nil
}
