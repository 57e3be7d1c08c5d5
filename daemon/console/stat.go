package console

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// procStat is what the console reads of /proc/PID/stat (proc(5)).
type procStat struct {
	Pid     int
	Comm    string
	State   byte // R, S, D, Z, T...
	Ppid    int
	Pgrp    int
	Session int
}

// parseStat parses the contents of /proc/PID/stat. The command name is
// between the first "(" and the last ")", since it may itself contain
// spaces and parentheses.
func parseStat(r io.Reader) (procStat, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return procStat{}, fmt.Errorf("read stat: %w", err)
	}
	open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || close < open {
		return procStat{}, fmt.Errorf("stat %q: no command name", b)
	}
	f := bytes.Fields(b[close+1:])
	if len(f) < 4 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("stat %q: too short", b)
	}
	s := procStat{Comm: string(b[open+1 : close]), State: f[0][0]}
	for i, p := range []*int{&s.Pid, &s.Ppid, &s.Pgrp, &s.Session} {
		field := bytes.TrimSpace(b[:open])
		if i > 0 {
			field = f[i]
		}
		if *p, err = strconv.Atoi(string(field)); err != nil {
			return procStat{}, fmt.Errorf("stat %q: field %d: %w", b, i, err)
		}
	}
	return s, nil
}
