package hostshell

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "notexec")
	exec := filepath.Join(dir, "sh")
	os.WriteFile(notExec, nil, 0o644)
	os.WriteFile(exec, nil, 0o755)
	if got, err := Find([]string{filepath.Join(dir, "missing"), dir, notExec, exec}); err != nil || got != exec {
		t.Errorf("Find = %q, %v; want %s, skipping the missing, the directory and the non-executable", got, err, exec)
	}
	if _, err := Find([]string{notExec, dir}); err == nil || !strings.Contains(err.Error(), notExec) {
		t.Errorf("no shell: %v, want an error naming the shells tried", err)
	}
}

func TestEnv(t *testing.T) {
	env := Env("/bin/sh")
	for _, want := range []string{"HOME=/root", "PATH=" + PATH, "SHELL=/bin/sh", "TERM=linux", "USER=root", "LOGNAME=root"} {
		if !slices.Contains(env, want) {
			t.Errorf("%q missing from %q", want, env)
		}
	}
}
