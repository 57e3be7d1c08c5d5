package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOverlayResetCloneRenameDiff(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, map[string]string{"etc/motd": "hello\n", "etc/gone": "x"})
	e.ok("new", "--overlay", "ov", "test.tar.gz")
	e.ok("new", "plain", "test.tar.gz")
	if st := e.state("ov"); st.Kind != "overlay" {
		t.Fatalf("ls kind %q, want overlay", st.Kind)
	}
	if st := e.state("plain"); st.Kind != "plain" {
		t.Fatalf("ls kind %q, want plain", st.Kind)
	}
	// The merged view is browsable from the host while the daemon runs.
	if data, err := os.ReadFile(filepath.Join(e.rootfs("ov"), "etc/motd")); err != nil || string(data) != "hello\n" {
		t.Fatalf("merged view: %q %v", data, err)
	}
	for _, name := range []string{"ov", "plain"} {
		root := e.rootfs(name)
		must(t, os.WriteFile(filepath.Join(root, "etc/motd"), []byte("changed\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(root, "etc/new"), []byte("new\n"), 0o644))
		must(t, os.Remove(filepath.Join(root, "etc/gone")))
		diff := e.ok("diff", name)
		for _, want := range []string{"M /etc/motd", "A /etc/new", "D /etc/gone"} {
			if !strings.Contains(diff, want) {
				t.Fatalf("diff %s lacks %q:\n%s", name, want, diff)
			}
		}
	}
	// An overlay instance boots like any other.
	e.ok("run", "ov")
	e.waitReport("ov")
	e.refused(1, "stop it first", "reset", "ov")
	e.refused(1, "stop it first", "rename", "ov", "other")
	e.refused(1, "stop it first", "clone", "ov", "other")
	e.ok("stop", "ov")
	e.groupGone("ov")

	e.ok("clone", "ov", "ov2")
	e.ok("clone", "plain", "plain2")
	for _, name := range []string{"ov2", "plain2"} {
		if data, _ := os.ReadFile(filepath.Join(e.rootfs(name), "etc/motd")); string(data) != "changed\n" {
			t.Fatalf("clone %s: motd %q", name, data)
		}
	}
	e.ok("reset", "ov")
	e.ok("reset", "plain")
	for _, name := range []string{"ov", "plain"} {
		if data, _ := os.ReadFile(filepath.Join(e.rootfs(name), "etc/motd")); string(data) != "hello\n" {
			t.Fatalf("reset %s: motd %q", name, data)
		}
		if d := e.ok("diff", name); strings.Contains(d, "/etc/") {
			t.Fatalf("diff after reset of %s:\n%s", name, d)
		}
	}
	e.ok("rename", "ov2", "renamed")
	e.refused(1, "", "rename", "renamed", "plain")
	if got := e.ok("ls", "instance"); !strings.Contains(got, "renamed") || strings.Contains(got, "ov2") {
		t.Fatalf("ls instance after rename:\n%s", got)
	}
	e.ok("rm", "renamed")
	e.ok("rm", "ov")
	if _, err := os.Stat(e.rootfs("ov")); !os.IsNotExist(err) {
		t.Fatal("rm of an overlay instance left its root")
	}
	e.waitFor("disk use measured", func() bool { return e.state("plain").Disk > 0 })
}

func TestDefaultInstance(t *testing.T) {
	e := startDaemon(t)
	e.image("test.tar.gz", false, nil)
	e.ok("new", "box", "test.tar.gz")
	if got := e.ok("default"); got != "" {
		t.Fatalf("default before any = %q", got)
	}
	e.refused(1, "", "default", "nosuch")
	e.ok("default", "box")
	if got := e.ok("default"); got != "box\n" {
		t.Fatalf("default = %q", got)
	}
	e.ok("default", "--clear")
	if got := e.ok("default"); got != "" {
		t.Fatalf("default after --clear = %q", got)
	}
}
