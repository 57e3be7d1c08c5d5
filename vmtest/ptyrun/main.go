// Command ptyrun runs a command on a pseudo-terminal of its own, so VM
// tests can drive what needs a person's terminal (initns shell) from the
// guest's serial shell, which has none:
//
//	ptyrun [-wait TEXT] CMD [ARGS...]
//
// The command is the leader of a new session whose controlling terminal
// is the pty's slave (24 rows, 80 columns); ptyrun copies its own stdin to
// the pty's master, after the command has shown TEXT if -wait is given
// (a prompt: keys typed before it may be discarded), and the master to its
// stdout. It exits with the command's status, once the terminal has no
// writer left.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	args, wait := os.Args[1:], ""
	if len(args) > 1 && args[0] == "-wait" {
		wait, args = args[1], args[2:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: ptyrun [-wait TEXT] CMD [ARGS...]")
		os.Exit(2)
	}
	code, err := run(args, wait)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ptyrun:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(args []string, wait string) (int, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return 0, err
	}
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY)
	if errno != 0 {
		return 0, fmt.Errorf("open the slave: %w", errno)
	}
	slave := os.NewFile(fd, "slave")
	unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80})
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	slave.Close() // EIO on the master once the command's side is gone
	shown := make(chan struct{})
	go func() {
		<-shown
		io.Copy(master, os.Stdin)
	}()
	copyOut(master, wait, shown)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), nil
	}
	return 0, err
}

// copyOut copies the master to stdout until EIO, closing shown once the
// output has shown wait.
func copyOut(master *os.File, wait string, shown chan struct{}) {
	var seen []byte
	opened := false
	open := func() {
		if !opened {
			opened = true
			close(shown)
		}
	}
	if wait == "" {
		open()
	}
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
		os.Stdout.Write(buf[:n])
		if !opened {
			seen = append(seen, buf[:n]...)
			if bytes.Contains(seen, []byte(wait)) {
				open()
			}
		}
		if err != nil {
			return
		}
	}
}
