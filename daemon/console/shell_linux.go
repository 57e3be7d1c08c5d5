package console

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"initns/daemon/internal/hostshell"
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
	path, err := hostshell.Find(m.cfg.Shells)
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
	pid, exit, err := hostshell.Start(path, tty)
	if err != nil {
		return nil, err
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
