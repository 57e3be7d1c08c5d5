package console

import (
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		in   string
		want procStat
	}{
		{"4242 (bash) S 1 4242 4242 34879 4242 4194560 1178 0 0 0 1 0 0 0 20 0 1 0 123 8650752 1032\n",
			procStat{Pid: 4242, Comm: "bash", State: 'S', Ppid: 1, Pgrp: 4242, Session: 4242}},
		{"17 (a) (b) c)) Z 16 15 14 0 -1 0\n",
			procStat{Pid: 17, Comm: "a) (b) c)", State: 'Z', Ppid: 16, Pgrp: 15, Session: 14}},
		{"9 (two words) R 0 0 0 0",
			procStat{Pid: 9, Comm: "two words", State: 'R'}},
	} {
		got, err := parseStat(strings.NewReader(c.in))
		if err != nil || got != c.want {
			t.Errorf("parseStat(%q) = %+v, %v, want %+v", c.in, got, err, c.want)
		}
	}
}

func TestParseStatRefuses(t *testing.T) {
	for _, in := range []string{"", "12 bash S 1 1 1", "12 (bash) S 1 1", "x (bash) S 1 2 3", "12 (bash) SS 1 2 3", "12 (bash) S 1 2 x"} {
		if s, err := parseStat(strings.NewReader(in)); err == nil {
			t.Errorf("parseStat(%q) = %+v, want an error", in, s)
		}
	}
}
