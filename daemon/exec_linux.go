package daemon

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"initns/daemon/internal/hostshell"
	"initns/nsexec"
	"initns/proto"
)

// cmdExec runs a command inside a running instance with the caller's
// stdio, and answers with its exit status when it ends.
func (d *Daemon) cmdExec(c *call) (any, error) {
	name := c.args[0]
	if len(c.fds) != 3 {
		return nil, fmt.Errorf("%w: exec needs the caller's stdin, stdout and stderr passed with the request (use the initns client)", proto.ErrUsage)
	}
	proc, err := d.startExec(name, c)
	if err != nil {
		return nil, err
	}
	select {
	case e := <-proc.Exit:
		return proto.ExecResult{Status: shellStatus(e.Status)}, nil
	case <-c.hangup:
		// The client went away (Ctrl+C): the command goes too.
		unix.Kill(proc.Pid, unix.SIGKILL)
		e := <-proc.Exit
		return proto.ExecResult{Status: shellStatus(e.Status)}, nil
	}
}

func (d *Daemon) startExec(name string, c *call) (proc *nsexec.Process, err error) {
	err = d.withHeld(name, func(b *boot) error {
		proc, err = d.execIn(b, c)
		return err
	})
	var ce *nsexec.CommandError
	switch {
	case errors.Is(err, ErrNotRunning):
		err = fmt.Errorf("%w: run it first", err)
	case errors.As(err, &ce) && ce.NotFound():
		err = fmt.Errorf("%s: command not found in instance %s (PATH %s): %w", c.args[1], name, hostshell.PATH, err)
	case errors.As(err, &ce) && ce.NotExecutable():
		err = fmt.Errorf("%s: cannot run it in instance %s: %w", c.args[1], name, err)
	}
	return proc, err
}

// execIn starts c's command inside b, which holds the machine.
func (d *Daemon) execIn(b *boot, c *call) (*nsexec.Process, error) {
	if d.isResident(b) {
		return nil, fmt.Errorf("instance %s is resident (frozen in the background): a command there would hang; switch to it first (initns switch %s)", b.name, b.name)
	}
	if d.isFrozen(b) {
		return nil, fmt.Errorf("instance %s is frozen: a command there would hang; run %s to thaw it first", b.name, b.name)
	}
	fd, err := b.group.OpenLeaf(execCgroup)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	env := []string{"PATH=" + hostshell.PATH, "HOME=/root"}
	for _, e := range c.env {
		if strings.HasPrefix(e, "TERM=") {
			env = append(env, e)
		}
	}
	return nsexec.Exec(nsexec.ExecConfig{
		PidFD: b.pidfd, CgroupFD: fd, Argv: c.args[1:], Path: filepath.SplitList(hostshell.PATH), Env: env,
		Stdio: [3]int{c.fds[0], c.fds[1], c.fds[2]},
	})
}

// execCgroup is the leaf under an instance's cgroup where exec's commands
// are born (cgroupfs.Group.OpenLeaf says why a leaf). Its name has no
// systemd unit suffix, so an init that manages its cgroup tree leaves it
// alone.
const execCgroup = "initns.exec"

// shellStatus is an exit status as a shell reports it.
func shellStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
