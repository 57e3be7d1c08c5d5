package client

import (
	"errors"
	"reflect"
	"testing"
)

// TestParseExec: exec's options come before the command, around NAME;
// the command's own flags stay its.
func TestParseExec(t *testing.T) {
	for _, c := range []struct {
		args []string
		want execOptions
	}{
		{[]string{"box", "--", "ls", "-l"}, execOptions{name: "box", argv: []string{"ls", "-l"}}},
		{[]string{"box", "ls", "-l"}, execOptions{name: "box", argv: []string{"ls", "-l"}}},
		{[]string{"-t", "box", "--", "sh"}, execOptions{name: "box", argv: []string{"sh"}, tty: true}},
		{[]string{"box", "-T", "--user", "alice", "--cwd=/srv", "-e", "A=1", "--env", "B=2=3", "--", "env", "-i"},
			execOptions{name: "box", argv: []string{"env", "-i"}, noTTY: true, user: "alice", cwd: "/srv", env: []string{"A=1", "B=2=3"}}},
		{[]string{"-u", "0", "-w", "/", "box", "id", "--", "x"}, execOptions{name: "box", argv: []string{"id", "--", "x"}, user: "0", cwd: "/"}},
		{[]string{"--help"}, execOptions{help: true}},
	} {
		got, err := parseExec(c.args)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseExec(%q) = %+v, %v; want %+v", c.args, got, err, c.want)
		}
	}
	for _, args := range [][]string{
		{}, {"box"}, {"box", "--"}, {"--user"}, {"box", "--user"}, {"--frob", "box", "ls"},
		{"-t", "-T", "box", "ls"}, {"--env", "NOEQUALS", "box", "ls"}, {"--env", "=v", "box", "ls"},
	} {
		_, err := parseExec(args)
		var ue usageErr
		if !errors.As(err, &ue) {
			t.Errorf("parseExec(%q): %v, want a usage error", args, err)
		}
	}
}
