package proto

import (
	"strings"
	"testing"
)

// TestVerbs checks the table both sides are built from: names unique,
// arity sane, usage lines that name as many arguments as the verb takes.
func TestVerbs(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range append(Verbs[:len(Verbs):len(Verbs)], ClientVerbs...) {
		if v.Name == "" || strings.ContainsAny(v.Name, " \n") || seen[v.Name] {
			t.Errorf("verb %q: empty, with a space, or twice", v.Name)
		}
		seen[v.Name] = true
		if v.Min < 0 || v.Max < v.Min {
			t.Errorf("%s: arity %d..%d", v.Name, v.Min, v.Max)
		}
		if v.Help == "" {
			t.Errorf("%s: no help", v.Name)
		}
		if len(v.Complete) > v.Max {
			t.Errorf("%s: completes %d arguments, takes at most %d", v.Name, len(v.Complete), v.Max)
		}
		// Each required argument is a word of Args; optional ones are
		// bracketed, and a repeated one ends with "...".
		words := strings.Fields(v.Args)
		required := 0
		for _, w := range words {
			if !strings.HasPrefix(w, "[") {
				required++
			}
		}
		if required != v.Min {
			t.Errorf("%s: usage %q names %d required arguments, the daemon wants %d", v.Name, v.Usage(), required, v.Min)
		}
		variadic := strings.HasSuffix(v.Args, "...") || strings.HasSuffix(v.Args, "...]")
		if !variadic && len(words) != v.Max {
			t.Errorf("%s: usage %q names %d arguments, the daemon takes up to %d", v.Name, v.Usage(), len(words), v.Max)
		}
		if got, ok := Lookup(v.Name); !ok || got.Name != v.Name {
			t.Errorf("Lookup(%q) = %v, %v", v.Name, got.Name, ok)
		}
	}
	if _, ok := Lookup("frobnicate"); ok {
		t.Error("Lookup found a verb that is not in the table")
	}
}

// TestUsage pins the usage lines the compatibility mode's help has always
// listed (SPEC §9: its answers do not change).
func TestUsage(t *testing.T) {
	var got []string
	for _, v := range Verbs {
		if !v.Debug && !v.Internal {
			got = append(got, v.Usage())
		}
	}
	want := []string{"new NAME IMAGE", "rm NAME", "run NAME", "switch NAME", "stop NAME", "freeze NAME",
		"exec NAME CMD [ARGS...]", "shell NAME [USER]", "set NAME KEY=VALUE...", "reset NAME", "clone SRC DST",
		"rename OLD NEW", "diff NAME", "default [NAME] [fallback=NAME|none] [menu=SECONDS]", "history [NAME]", "ls [image|instance]", "seed DIR IMAGE",
		"commit NAME IMAGE", "remote ls|add|rm [NAME] [URL]", "reboot", "poweroff", "help", "version"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("help lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
