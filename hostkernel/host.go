package hostkernel

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Host is where the running kernel's files are in initns's own root.
// Running fills it for this machine; tests point it at directories of
// their own.
type Host struct {
	Release   string // uname -r: the name of the modules directory
	Modules   string // the host's modules tree: /lib/modules
	Firmware  string // the host's firmware: /lib/firmware
	SysModule string // the loaded modules' sysfs: /sys/module
}

// Where the directories are inside an instance, as it sees them: the
// kernel and modprobe look there. Their targets resolve inside the root,
// so a merged-/usr tree (lib -> usr/lib) gets them under /usr/lib.
const (
	instanceModules  = "/lib/modules"
	instanceFirmware = "/lib/firmware"
)

// Modules says where an instance's modules for the running kernel come
// from, as `ls` shows it.
type Modules string

const (
	// ModulesOwn: the instance's root holds a non-empty
	// /lib/modules/RELEASE: it keeps it.
	ModulesOwn Modules = "own"
	// ModulesHost: it has none, and initns's own are mounted there
	// read-only at boot.
	ModulesHost Modules = "host"
	// ModulesNone: neither has them (initns's root lacks them too).
	ModulesNone Modules = "none"
)

// Facts is what Inspect found of one instance's root and the host.
type Facts struct {
	OwnModules, HostModules   bool // a non-empty modules directory of the release
	OwnFirmware, HostFirmware bool // a non-empty firmware directory
}

// Mount is one read-only bind mount Decide asks for: the host directory
// Source at Target, a path inside the instance's root.
type Mount struct {
	Source, Target string
}

// ModulesOf says where the instance's modules come from.
func (f Facts) ModulesOf() Modules {
	switch {
	case f.OwnModules:
		return ModulesOwn
	case f.HostModules:
		return ModulesHost
	}
	return ModulesNone
}

// Decide is what the host lends an instance: its modules directory of the
// running kernel unless the instance brings its own (an empty directory is
// none: it is the mount point an earlier boot made), and its firmware
// unless the instance has some. The kernel itself loads firmware from
// initns's root, not the instance's; the view is for the instance's tools
// (and a user) that look there.
func (h Host) Decide(f Facts) []Mount {
	var out []Mount
	if !f.OwnModules && f.HostModules {
		out = append(out, Mount{Source: path.Join(h.Modules, h.Release), Target: path.Join(instanceModules, h.Release)})
	}
	if !f.OwnFirmware && f.HostFirmware {
		out = append(out, Mount{Source: h.Firmware, Target: instanceFirmware})
	}
	return out
}

// Driver is a kernel module whose userspace libraries must be of the
// module's exact version: its libraries carry that version in their file
// names.
type Driver struct {
	Module string   // the kernel module, as in /sys/module
	Libs   []string // its libraries, as LIB.so.VERSION
}

// Drivers are the drivers checked at run. NVIDIA's driver refuses a
// userspace of another version ("NVRM: API mismatch"); these libraries
// are versioned with the driver itself (not, say, libnvidia-egl-wayland,
// a project of its own versions).
var Drivers = []Driver{{Module: "nvidia", Libs: []string{"libnvidia-ml", "libnvidia-glcore", "libcuda"}}}

// libDirs are where a distribution puts driver libraries, inside the
// instance (Debian's multiarch and its nvidia alternatives directory,
// Fedora's lib64, the plain lib).
var libDirs = []string{
	"/usr/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu/nvidia/current",
	"/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
}

// Userspace is a version of a driver's libraries found in an instance,
// and one file that carries it.
type Userspace struct {
	Module, Version, File string
}

// Mismatch is a driver whose loaded module and the instance's libraries
// disagree.
type Mismatch struct {
	Module   string
	Loaded   string      // the module's version (/sys/module/NAME/version)
	Found    []Userspace // the instance's libraries, none of them of Loaded
	Versions string      // where Loaded was read
}

// String says what is wrong and what to do.
func (m Mismatch) String() string {
	var vs []string
	for _, u := range m.Found {
		vs = append(vs, u.Version+" ("+u.File+")")
	}
	return fmt.Sprintf("the instance's %s userspace is version %s but the loaded %s module is %s (%s): its programs will fail with an API mismatch; install the %s userspace of version %s in the instance, or load the module its libraries were built for",
		m.Module, strings.Join(vs, ", "), m.Module, m.Loaded, m.Versions, m.Module, m.Loaded)
}

// Mismatches compares an instance's driver libraries with the loaded
// modules' versions (module name to version; a module that is not loaded
// is missing). A driver is a mismatch when it is loaded and the instance
// has libraries of it, none of the loaded version.
func (h Host) Mismatches(found []Userspace, loaded map[string]string) []Mismatch {
	byModule := map[string][]Userspace{}
	for _, u := range found {
		byModule[u.Module] = append(byModule[u.Module], u)
	}
	var out []Mismatch
	for _, d := range Drivers {
		v, ok := loaded[d.Module]
		us := byModule[d.Module]
		if !ok || len(us) == 0 || slices.ContainsFunc(us, func(u Userspace) bool { return u.Version == v }) {
			continue
		}
		out = append(out, Mismatch{Module: d.Module, Loaded: v, Found: us, Versions: path.Join(h.SysModule, d.Module, "version")})
	}
	return out
}

// libVersion returns the version a driver library's file name carries:
// LIB.so.VERSION, VERSION digits and dots with at least one dot; "" for
// any other name (the .so and .so.1 links).
func libVersion(d Driver, name string) string {
	lib, v, ok := strings.Cut(name, ".so.")
	if !ok || !slices.Contains(d.Libs, lib) || !strings.Contains(v, ".") || v[0] < '0' || v[0] > '9' {
		return ""
	}
	for _, c := range v {
		if (c < '0' || c > '9') && c != '.' {
			return ""
		}
	}
	return v
}
