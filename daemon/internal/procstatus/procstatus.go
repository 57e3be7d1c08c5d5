// Package procstatus reads /proc/PID/status, the kernel's "Key:\tvalue"
// lines about a process: the one scanner of them in the daemon, and the
// questions the daemon asks of them.
package procstatus

import (
	"bufio"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Fields returns the words of the lines of a status file whose keys are
// among keys, by key; a key without a line is absent from the map.
func Fields(r io.Reader, keys ...string) (map[string][]string, error) {
	out := map[string][]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && slices.Contains(keys, k) {
			out[k] = strings.Fields(v)
		}
	}
	return out, sc.Err()
}

// Read is Fields of /proc/PID/status; pid may be "self".
func Read(pid string, keys ...string) (map[string][]string, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Fields(f, keys...)
}

// NSpid returns the pid of process pid ("self" or a number) in each PID
// namespace from the reader's down, outermost first; false when the
// process is gone or the kernel has no NSpid line.
func NSpid(pid string) ([]int, bool) {
	st, err := Read(pid, "NSpid")
	if err != nil {
		return nil, false
	}
	return nspid(st)
}

func nspid(st map[string][]string) ([]int, bool) {
	var ns []int
	for _, w := range st["NSpid"] {
		n, err := strconv.Atoi(w)
		if err != nil {
			return nil, false
		}
		ns = append(ns, n)
	}
	return ns, len(ns) > 0
}

// InGroup reports whether process pid has gid as its effective group or
// among its supplementary groups; false when the process is gone.
func InGroup(pid, gid int) bool {
	st, err := Read(strconv.Itoa(pid), "Gid", "Groups")
	return err == nil && inGroup(st, gid)
}

func inGroup(st map[string][]string, gid int) bool {
	g := strconv.Itoa(gid)
	// Gid: real, effective, saved, fs; only the effective one counts.
	ids := st["Gid"]
	return len(ids) > 1 && ids[1] == g || slices.Contains(st["Groups"], g)
}

// Session returns the session id of process pid as the reader's PID
// namespace sees it (NSsid); false when the process is gone.
func Session(pid string) (int, bool) {
	st, err := Read(pid, "NSsid")
	if err != nil || len(st["NSsid"]) == 0 {
		return 0, false
	}
	sid, err := strconv.Atoi(st["NSsid"][0])
	return sid, err == nil
}
