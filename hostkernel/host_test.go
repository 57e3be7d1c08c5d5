package hostkernel

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var testHost = Host{Release: "6.1.0-9-amd64", Modules: "/lib/modules", Firmware: "/lib/firmware", SysModule: "/sys/module"}

func TestDecide(t *testing.T) {
	modules := Mount{Source: "/lib/modules/6.1.0-9-amd64", Target: "/lib/modules/6.1.0-9-amd64"}
	firmware := Mount{Source: "/lib/firmware", Target: "/lib/firmware"}
	for _, c := range []struct {
		f    Facts
		want []Mount
		mods Modules
	}{
		{Facts{HostModules: true, HostFirmware: true}, []Mount{modules, firmware}, ModulesHost},
		{Facts{OwnModules: true, HostModules: true, HostFirmware: true}, []Mount{firmware}, ModulesOwn},
		{Facts{HostModules: true, OwnFirmware: true, HostFirmware: true}, []Mount{modules}, ModulesHost},
		{Facts{}, nil, ModulesNone},
		{Facts{OwnModules: true, OwnFirmware: true}, nil, ModulesOwn},
	} {
		if got := testHost.Decide(c.f); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Decide(%+v) = %v, want %v", c.f, got, c.want)
		}
		if got := c.f.ModulesOf(); got != c.mods {
			t.Errorf("ModulesOf(%+v) = %s, want %s", c.f, got, c.mods)
		}
	}
}

func TestLibVersion(t *testing.T) {
	nv := Drivers[0]
	for name, want := range map[string]string{
		"libnvidia-ml.so.535.104.05":      "535.104.05",
		"libcuda.so.550.54.14":            "550.54.14",
		"libnvidia-ml.so.1":               "",
		"libnvidia-ml.so":                 "",
		"libnvidia-egl-wayland.so.1.1.11": "",
		"libnvidia-ml.so.535.x":           "",
		"libc.so.6":                       "",
	} {
		if got := libVersion(nv, name); got != want {
			t.Errorf("libVersion(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestMismatches(t *testing.T) {
	old := Userspace{Module: "nvidia", Version: "535.104.05", File: "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.104.05"}
	same := Userspace{Module: "nvidia", Version: "550.54.14", File: "/usr/lib64/libcuda.so.550.54.14"}
	loaded := map[string]string{"nvidia": "550.54.14"}
	if got := testHost.Mismatches([]Userspace{old}, loaded); len(got) != 1 || got[0].Loaded != "550.54.14" ||
		!strings.Contains(got[0].String(), "535.104.05") || !strings.Contains(got[0].String(), "/sys/module/nvidia/version") {
		t.Errorf("an old userspace: %v", got)
	}
	for _, c := range []struct {
		found  []Userspace
		loaded map[string]string
	}{
		{[]Userspace{same}, loaded},      // matches
		{[]Userspace{old, same}, loaded}, // one of them matches
		{[]Userspace{old}, nil},          // the module is not loaded
		{nil, loaded},                    // no userspace
	} {
		if got := testHost.Mismatches(c.found, c.loaded); len(got) != 0 {
			t.Errorf("Mismatches(%v, %v) = %v, want none", c.found, c.loaded, got)
		}
	}
}

// TestPrepareStaysInTheRoot: mount points are made where the instance's
// links lead inside its root (relative and absolute), never on the host.
func TestPrepareStaysInTheRoot(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755)
	os.Symlink("/usr/lib", filepath.Join(root, "lib")) // absolute, as the instance sees it
	os.Symlink(outside, filepath.Join(root, "usr/lib/firmware"))
	// The firmware link dangles inside the root: that mount is left out.
	got, err := testHost.Prepare(root, testHost.Decide(Facts{HostModules: true, HostFirmware: true}))
	if err == nil || !strings.Contains(err.Error(), "mount point /lib/firmware") {
		t.Errorf("a dangling link as the mount point: %v, want an error naming it", err)
	}
	want := []Mount{{Source: "/lib/modules/6.1.0-9-amd64", Target: filepath.Join(root, "usr/lib/modules/6.1.0-9-amd64")}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Prepare = %v, want %v", got, want)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("a link in the root made Prepare write outside it: %v", ents)
	}
	f, err := testHost.Inspect(root)
	if err != nil || f.OwnModules || f.OwnFirmware {
		t.Errorf("empty mount points count as the instance's own: %+v %v", f, err)
	}
}
