package client

import (
	"errors"
	"testing"

	"github.com/urfave/cli/v2"

	"initns/proto"
)

// TestCommandsFromVerbs checks that the command line offers every verb of
// the protocol's table, with its flags, and checks its arity as the
// daemon does.
func TestCommandsFromVerbs(t *testing.T) {
	app := newApp(nil, nil, nil)
	app.Setup() // adds urfave/cli's help, the client's side of verb help
	for _, v := range append(proto.Verbs[:len(proto.Verbs):len(proto.Verbs)], proto.ClientVerbs...) {
		c := find(app.Commands, v.Name)
		if v.Debug || v.Internal {
			if c != nil {
				t.Errorf("debug or internal verb %s is a client command", v.Name)
			}
			continue
		}
		if c == nil {
			t.Errorf("verb %s has no client command", v.Name)
			continue
		}
		for _, f := range v.Flags {
			if !hasFlag(c, f.Name) {
				t.Errorf("%s: no --%s", v.Name, f.Name)
			}
		}
		if v.Progress != hasFlag(c, "quiet") {
			t.Errorf("%s: --quiet is offered if and only if the verb shows progress", v.Name)
		}
		for n := 0; n <= min(v.Max+1, 10); n++ {
			err := arity(v.Name, make([]string, n))
			var ue usageErr
			if ok := n >= v.Min && n <= v.Max; ok != (err == nil) || (err != nil && !errors.As(err, &ue)) {
				t.Errorf("%s with %d arguments: %v", v.Name, n, err)
			}
		}
	}
}

func hasFlag(c *cli.Command, name string) bool {
	for _, f := range c.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}
