// Package hostshell starts the host's root shell on a terminal, the one
// way the daemon does it: for Ctrl+Alt+J's shell on VT63 (package
// console) and for the serial shell of initns.shell= (package pid1).
package hostshell

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"initns/reaper"
)

// PATH is the search path of a root login on a Debian host, which the
// host shell gets, and commands run in an instance too.
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Shells are the shells tried, in order, when none is named.
var Shells = []string{"/bin/bash", "/bin/sh"}

// Find returns the first of shells that is an executable file.
func Find(shells []string) (string, error) {
	for _, s := range shells {
		if fi, err := os.Stat(s); err == nil && fi.Mode().IsRegular() && unix.Access(s, unix.X_OK) == nil {
			return s, nil
		}
	}
	return "", fmt.Errorf("no shell among %s: install one of them", strings.Join(shells, ", "))
}

// Env is the environment of a root login on a Linux console; nothing of
// the daemon's own environment (which, for PID 1, is the kernel's).
func Env(shell string) []string {
	return []string{
		"HOME=/root",
		"PATH=" + PATH,
		"SHELL=" + shell,
		"TERM=linux",
		"USER=root",
		"LOGNAME=root",
		"LANG=C.UTF-8",
	}
}

// Start starts shell as root's login shell on the terminal tty (an open
// descriptor, which the caller keeps and may close once Start returns):
// a new session with tty as its controlling terminal and its stdin,
// stdout and stderr, in root's home, with Env. It returns the shell's pid,
// also its session and process group id, and its exit from the reaper.
func Start(shell string, tty int) (int, <-chan reaper.Exit, error) {
	fd := uintptr(tty)
	attr := &syscall.ProcAttr{
		Dir:   homeDir(),
		Env:   Env(shell),
		Files: []uintptr{fd, fd, fd},
		// Ctty is an index into Files: the child's stdin.
		Sys: &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0},
	}
	// A leading "-" makes it a login shell, which reads /etc/profile.
	pid, exit, err := reaper.Start(shell, []string{"-" + filepath.Base(shell)}, attr)
	if err != nil {
		return 0, nil, fmt.Errorf("start %s: %w", shell, err)
	}
	return pid, exit, nil
}

// homeDir is root's home directory, or / when it is missing.
func homeDir() string {
	if fi, err := os.Stat("/root"); err == nil && fi.IsDir() {
		return "/root"
	}
	return "/"
}
