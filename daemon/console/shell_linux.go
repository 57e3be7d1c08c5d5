package console

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"initns/reaper"
	"initns/vt"
)

// hangupGrace is how long the shell's session has after the hangup to end
// by itself before it is killed.
const hangupGrace = 500 * time.Millisecond

// shell is a started host shell.
type shell struct {
	pid    int // also its session id
	term   *vt.Terminal
	hold   *vt.Holder
	frozen string        // the instance frozen for it, "" if none
	exited chan struct{} // closed once the reaper has its exit status
	status reaper.Exit
	done   chan struct{} // closed once its session is gone and the VT given back
}

// startShell writes the banner on the shell's VT and starts the shell
// there as a new session, with the VT as its controlling terminal.
func (m *Manager) startShell(term *vt.Terminal, banner string) (*shell, error) {
	path, err := findShell(m.cfg.Shells)
	if err != nil {
		return nil, err
	}
	m.setupTerminal(term)
	tty, err := unix.Open(vt.Path(m.cfg.VT), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", vt.Path(m.cfg.VT), err)
	}
	defer unix.Close(tty)
	// Reset the terminal (ESC c) so no state of an earlier session shows.
	unix.Write(tty, []byte("\033c"+banner))
	fd := uintptr(tty)
	attr := &syscall.ProcAttr{
		Dir:   homeDir(),
		Env:   shellEnv(path),
		Files: []uintptr{fd, fd, fd},
		// Ctty is an index into Files: the child's stdin.
		Sys: &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0},
	}
	// A leading "-" makes it a login shell, which reads /etc/profile.
	pid, exit, err := reaper.Start(path, []string{"-" + filepath.Base(path)}, attr)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	sh := &shell{pid: pid, term: term, exited: make(chan struct{}), done: make(chan struct{})}
	go func() {
		sh.status = <-exit
		close(sh.exited)
	}()
	return sh, nil
}

// waitExit waits up to timeout for the shell's exit status.
func (sh *shell) waitExit(timeout time.Duration) bool {
	select {
	case <-sh.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// findShell returns the first of shells that is an executable file.
func findShell(shells []string) (string, error) {
	for _, s := range shells {
		if fi, err := os.Stat(s); err == nil && fi.Mode().IsRegular() && unix.Access(s, unix.X_OK) == nil {
			return s, nil
		}
	}
	return "", fmt.Errorf("no shell among %s: install one of them", strings.Join(shells, ", "))
}

// homeDir is root's home directory, or / when it is missing.
func homeDir() string {
	if fi, err := os.Stat("/root"); err == nil && fi.IsDir() {
		return "/root"
	}
	return "/"
}

// shellEnv is the environment of a root login on a Linux console; nothing
// of the daemon's own environment (which, for PID 1, is the kernel's).
func shellEnv(shell string) []string {
	return []string{
		"HOME=/root",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"SHELL=" + shell,
		"TERM=linux",
		"USER=root",
		"LOGNAME=root",
		"LANG=C.UTF-8",
	}
}

// banner is what the shell's VT shows above the shell's prompt.
func banner(name string, stuck []string, err error, cfg Config) string {
	var b strings.Builder
	b.WriteString("initns: host shell.\r\n")
	switch {
	case err != nil:
		fmt.Fprintf(&b, "The running instance could not be frozen and keeps running: %v\r\n", err)
	case name == "":
		b.WriteString("No instance is running.\r\n")
	case len(stuck) > 0:
		fmt.Fprintf(&b, "Instance %s did not freeze within %v and keeps running. Tasks that would not freeze:\r\n", name, cfg.FreezeTimeout)
		for _, s := range stuck {
			fmt.Fprintf(&b, "  %s\r\n", s)
		}
	default:
		fmt.Fprintf(&b, "Instance %s is frozen. `exit` or `initns run %s` thaws it and returns to VT %d.\r\n", name, name, cfg.HomeVT)
		return b.String()
	}
	fmt.Fprintf(&b, "`exit` returns to VT %d.\r\n", cfg.HomeVT)
	return b.String()
}
