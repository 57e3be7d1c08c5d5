package daemon

import (
	"slices"
	"testing"
)

func TestPlanRun(t *testing.T) {
	cases := []struct {
		active string
		frozen bool
		name   string
		want   []step
	}{
		{"", false, "a", []step{stepBoot, stepEndConsole}},
		{"a", false, "a", nil},
		{"a", true, "a", []step{stepEndConsole, stepThaw}},
		{"b", false, "a", []step{stepStopOther, stepBoot, stepEndConsole}},
		{"b", true, "a", []step{stepStopOther, stepBoot, stepEndConsole}},
	}
	for _, c := range cases {
		if got := planRun(c.active, c.frozen, c.name); !slices.Equal(got, c.want) {
			t.Errorf("planRun(%q, %v, %q) = %v, want %v", c.active, c.frozen, c.name, got, c.want)
		}
	}
}

func TestStateOf(t *testing.T) {
	if stateOf("a", "b", true) != Stopped || stateOf("a", "a", false) != Running || stateOf("a", "a", true) != Frozen {
		t.Fatal("stateOf disagrees with SPEC §4")
	}
}
