package client

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestHoistFlags(t *testing.T) {
	app := newApp(nil, nil)
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
	app := newApp(&out, &out)
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
	if err := newApp(&out, &out).Run(args); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"new", "run", "stop", "exec", "ls"} {
		if !strings.Contains(out.String(), cmd+"\n") {
			t.Fatalf("completion of commands lacks %s:\n%s", cmd, out.String())
		}
	}
}
