package hostkernel

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"initns/initsys"
)

// Running is this machine: the running kernel's release, and the
// directories of initns's own root.
func Running() Host {
	var u unix.Utsname
	unix.Uname(&u)
	return Host{Release: unix.ByteSliceToString(u.Release[:]), Modules: "/lib/modules", Firmware: "/lib/firmware", SysModule: "/sys/module"}
}

// Under is h with its directories under root instead of /.
func (h Host) Under(root string) Host {
	h.Modules = filepath.Join(root, h.Modules)
	h.Firmware = filepath.Join(root, h.Firmware)
	h.SysModule = filepath.Join(root, h.SysModule)
	return h
}

// Inspect finds what Decide needs of the instance whose root filesystem
// is at root (a host path).
func (h Host) Inspect(root string) (Facts, error) {
	dir, err := openRoot(root)
	if err != nil {
		return Facts{}, err
	}
	defer unix.Close(dir)
	return Facts{
		OwnModules:   nonEmptyIn(dir, path.Join(instanceModules, h.Release)),
		HostModules:  nonEmpty(path.Join(h.Modules, h.Release)),
		OwnFirmware:  nonEmptyIn(dir, instanceFirmware),
		HostFirmware: nonEmpty(h.Firmware),
	}, nil
}

// Prepare makes the mount point of each of mounts inside root (a missing
// directory is created, mode 0755, resolved inside the root: a merged-/usr
// tree gets it under usr/) and returns the mounts with Target the host
// path of that directory, for nsexec. The directory stays: an empty one
// is no instance's own (see Decide), and an overlay instance keeps it in
// its upper layer. A mount point that cannot be made (a dangling link, a
// file in the way) leaves that mount out, with an error that names it.
func (h Host) Prepare(root string, mounts []Mount) ([]Mount, error) {
	dir, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dir)
	out := make([]Mount, 0, len(mounts))
	var errs []error
	for _, m := range mounts {
		target, err := mkdirIn(dir, m.Target)
		if err != nil {
			errs = append(errs, fmt.Errorf("mount point %s for %s in %s: %w", m.Target, m.Source, root, err))
			continue
		}
		out = append(out, Mount{Source: m.Source, Target: target})
	}
	return out, errors.Join(errs...)
}

func openRoot(root string) (int, error) {
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open root filesystem %s: %w", root, err)
	}
	return dir, nil
}

// nonEmpty says whether the host directory dir has an entry.
func nonEmpty(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	return hasEntry(f)
}

// nonEmptyIn says whether the directory p inside the root rootFD has an
// entry.
func nonEmptyIn(rootFD int, p string) bool {
	f, err := initsys.OpenInRoot(rootFD, p, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	return hasEntry(f)
}

func hasEntry(f *os.File) bool {
	names, err := f.Readdirnames(1)
	return err == nil && len(names) > 0
}

// mkdirIn makes the directory p inside the root rootFD, with its missing
// parents, and returns its host path. Each component is resolved inside
// the root, so a symlink in the instance (lib -> usr/lib, or an absolute
// one) leads where it leads for the instance, never out of it.
func mkdirIn(rootFD int, p string) (string, error) {
	parts := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		f, err := initsys.OpenInRoot(rootFD, sub, unix.O_PATH|unix.O_DIRECTORY, 0)
		if errors.Is(err, unix.ENOENT) {
			err = mkdirAt(rootFD, strings.Join(parts[:i], "/"), parts[i])
			if err == nil {
				f, err = initsys.OpenInRoot(rootFD, sub, unix.O_PATH|unix.O_DIRECTORY, 0)
			}
		}
		if err != nil {
			return "", err
		}
		if i < len(parts)-1 {
			f.Close()
			continue
		}
		defer f.Close()
		// The kernel's name of the directory, on the host: what nsexec
		// mounts on, before it leaves the host's tree.
		return os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	}
	return "", fmt.Errorf("%q names no directory", p)
}

// mkdirAt makes name in the directory parent (inside the root).
func mkdirAt(rootFD int, parent, name string) error {
	if parent == "" {
		parent = "."
	}
	d, err := initsys.OpenInRoot(rootFD, parent, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Mkdirat(int(d.Fd()), name, 0o755); err != nil && err != unix.EEXIST {
		return &os.PathError{Op: "mkdir", Path: path.Join("/", parent, name), Err: err}
	}
	return nil
}

// Userspace lists the kernel-bound driver libraries (Drivers) the
// instance whose root is at root ships, in its usual library directories.
func (h Host) Userspace(root string) ([]Userspace, error) {
	dir, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dir)
	var out []Userspace
	for _, ld := range libDirs {
		f, err := initsys.OpenInRoot(dir, ld, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			continue
		}
		names, _ := f.Readdirnames(-1)
		f.Close()
		for _, n := range names {
			for _, d := range Drivers {
				if v := libVersion(d, n); v != "" {
					out = append(out, Userspace{Module: d.Module, Version: v, File: path.Join(ld, n)})
				}
			}
		}
	}
	return out, nil
}

// Loaded returns the versions of the loaded modules of Drivers, from
// SysModule/NAME/version; a module that is not loaded (or has no version)
// is missing.
func (h Host) Loaded() map[string]string {
	out := map[string]string{}
	for _, d := range Drivers {
		f, err := os.Open(path.Join(h.SysModule, d.Module, "version"))
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(f, 256))
		f.Close()
		if v := strings.TrimSpace(string(b)); v != "" {
			out[d.Module] = v
		}
	}
	return out
}
