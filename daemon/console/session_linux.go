package console

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// sessionMembers returns every process of session sid found under proc
// (/proc), zombies included: a zombie is a process not yet reaped.
func sessionMembers(proc string, sid int) ([]procStat, error) {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var members []procStat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s, err := readStat(proc, pid)
		if err == nil && s.Session == sid {
			members = append(members, s)
		}
	}
	return members, nil
}

// readStat reads /proc/PID/stat; a process that has gone is an error.
func readStat(proc string, pid int) (procStat, error) {
	f, err := os.Open(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	defer f.Close()
	return parseStat(f)
}

// signalMember sends sig to pid if it is still in session sid. The pidfd
// pins the process, so a pid recycled since the scan is never signalled:
// the session is checked again after the pidfd is taken.
func signalMember(proc string, pid, sid int, sig unix.Signal) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if s, err := readStat(proc, pid); err != nil || s.Session != sid {
		return
	}
	unix.PidfdSendSignal(fd, sig, nil, 0)
}

// errSessionLeft means some processes of the session outlived endSession:
// tasks in uninterruptible sleep, or zombies whose parent does not reap.
var errSessionLeft = errors.New("processes of the session are still there")

// endSession ends every process of session sid: first a hangup (and
// SIGCONT, so stopped jobs see it), as a terminal hangup would, so shells
// save their history; after grace, SIGKILL, again and again, since
// members may fork while they are killed. It returns when no process of
// the session is left, reaped ones included, or with errSessionLeft
// naming the rest at deadline.
func endSession(proc string, sid int, grace, deadline time.Duration) error {
	start := time.Now()
	for _, sig := range []unix.Signal{unix.SIGHUP, unix.SIGCONT} {
		if err := signalSession(proc, sid, sig); err != nil {
			return err
		}
	}
	for {
		members, err := sessionMembers(proc, sid)
		if err != nil {
			return err
		}
		if len(members) == 0 {
			return nil
		}
		if time.Since(start) > deadline {
			return fmt.Errorf("session %d: %w: %s", sid, errSessionLeft, describe(members))
		}
		if time.Since(start) > grace {
			signalSession(proc, sid, unix.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func signalSession(proc string, sid int, sig unix.Signal) error {
	members, err := sessionMembers(proc, sid)
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.State != 'Z' {
			signalMember(proc, m.Pid, sid, sig)
		}
	}
	return nil
}

// describe names processes for a person: "123 sleep (S), 124 cat (Z)".
func describe(ps []procStat) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d %s (%c)", p.Pid, p.Comm, p.State)
	}
	return s
}
