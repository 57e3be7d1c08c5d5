package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestRegistryFilesPrivate: the registry files under the state root are
// 0600 after new, and an older 0644 one is made 0600 when the store opens.
func TestRegistryFilesPrivate(t *testing.T) {
	root := filepath.Join(t.TempDir(), "state")
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.ImagePath("a.tar"), makeTar(t, file("etc/hostname", "a")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.New(context.Background(), "box", "a.tar", nil); err != nil {
		t.Fatal(err)
	}
	mode := func(name string) os.FileMode {
		fi, err := os.Stat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	for _, name := range []string{registryF, metaF} {
		if m := mode(name); m != 0o600 {
			t.Errorf("%s: mode %o after new, want 600", name, m)
		}
		os.Chmod(filepath.Join(root, name), 0o644)
	}
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{registryF, metaF} {
		if m := mode(name); m != 0o600 {
			t.Errorf("%s: mode %o after open, want 600", name, m)
		}
	}
}
