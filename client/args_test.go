package client

import (
	"slices"
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
