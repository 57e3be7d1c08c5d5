package client

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestHoistFlags(t *testing.T) {
	app := newApp(nil, nil, nil)
	cases := [][2][]string{
		{{"initns", "stop", "box", "--kill"}, {"initns", "stop", "--kill", "--", "box"}},
		{{"initns", "--socket", "/s", "stop", "box", "--timeout", "3s"}, {"initns", "--socket", "/s", "stop", "--timeout", "3s", "--", "box"}},
		{{"initns", "stop", "box", "--timeout=3s"}, {"initns", "stop", "--timeout=3s", "--", "box"}},
		{{"initns", "ls", "--json"}, {"initns", "ls", "--json"}},
		{{"initns", "ls", "image", "--json"}, {"initns", "ls", "--json", "--", "image"}},
		{{"initns", "new", "a", "--", "-b"}, {"initns", "new", "--", "a", "-b"}},
		{{"initns", "nosuch", "x", "--kill"}, {"initns", "nosuch", "x", "--kill"}},
	}
	for _, c := range cases {
		if got := hoistFlags(app, c[0]); !slices.Equal(got, c[1]) {
			t.Errorf("hoistFlags(%q) = %q, want %q", c[0], got, c[1])
		}
	}
}

func TestCompletionScript(t *testing.T) {
	var out strings.Builder
	app := newApp(&out, &out, nil)
	if err := app.Run([]string{"initns", "completion", "bash"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "complete -o default -F _initns initns") {
		t.Fatalf("script:\n%s", out.String())
	}
	out.Reset()
	// urfave/cli reads os.Args to tell flag completion from command completion.
	args := []string{"initns", "--generate-bash-completion"}
	defer func(saved []string) { os.Args = saved }(os.Args)
	os.Args = args
	if err := newApp(&out, &out, nil).Run(args); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"new", "run", "stop", "exec", "ls"} {
		if !strings.Contains(out.String(), cmd+"\n") {
			t.Fatalf("completion of commands lacks %s:\n%s", cmd, out.String())
		}
	}
}

// TestTypedCommandAlone checks that the command line built for a typed
// command has that command, with its flags and its hoisting, and that
// help and unknown commands still see every command.
func TestTypedCommandAlone(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"initns", "stop", "box", "--kill"}, "stop"},
		{[]string{"initns", "--socket", "/s", "ls", "--json"}, "ls"},
		{[]string{"initns", "--socket=/s", "exec", "box", "--", "sh"}, "exec"},
		{[]string{"initns", "--socket", "/s"}, ""},
		{[]string{"initns", "help"}, "help"},
	} {
		if got := typed(newApp(nil, nil, nil).Flags, c.args); got != c.want {
			t.Errorf("typed(%q) = %q, want %q", c.args, got, c.want)
		}
	}
	all := len(newApp(nil, nil, nil).Commands)
	app := newApp(nil, nil, []string{"initns", "stop", "box", "--kill"})
	if find(app.Commands, "stop") == nil || len(app.Commands) >= all {
		t.Fatalf("commands built for stop: %d of %d, stop among them: %v", len(app.Commands), all, find(app.Commands, "stop") != nil)
	}
	if got := hoistFlags(app, []string{"initns", "stop", "box", "--kill"}); !slices.Equal(got, []string{"initns", "stop", "--kill", "--", "box"}) {
		t.Errorf("hoisted for stop alone: %q", got)
	}
	for _, args := range [][]string{{"initns", "help"}, {"initns", "nosuch"}, {"initns", "import", "x"}, {"initns"}} {
		if n := len(newApp(nil, nil, args).Commands); n != all {
			t.Errorf("%q: %d commands, want all %d", args, n, all)
		}
	}
	var out strings.Builder
	if err := newApp(&out, &out, []string{"initns", "help"}).Run([]string{"initns", "help"}); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"new", "switch", "pull", "shell"} {
		if !strings.Contains(out.String(), "   "+cmd) {
			t.Errorf("help lacks %s:\n%s", cmd, out.String())
		}
	}
}
