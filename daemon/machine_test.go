package daemon

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// planCase is one case of planRun or planSwitch.
type planCase struct {
	front    string
	frozen   bool
	name     string
	resident bool
	want     []step
}

func checkPlan(t *testing.T, what string, plan func(string, bool, string, bool) []step, cases []planCase) {
	t.Helper()
	for _, c := range cases {
		if got := plan(c.front, c.frozen, c.name, c.resident); !slices.Equal(got, c.want) {
			t.Errorf("%s(%q, %v, %q, %v) = %v, want %v", what, c.front, c.frozen, c.name, c.resident, got, c.want)
		}
	}
}

func TestPlanRun(t *testing.T) {
	checkPlan(t, "planRun", planRun, []planCase{
		{"", false, "a", false, []step{stepBoot, stepEndConsole}},
		{"a", false, "a", false, nil},
		{"a", true, "a", false, []step{stepEndConsole, stepThaw}},
		{"b", false, "a", false, []step{stepStopOther, stepBoot, stepEndConsole}},
		{"b", true, "a", false, []step{stepStopOther, stepBoot, stepEndConsole}},
		// run of a resident instance: the one in front is stopped, as run
		// always did, and NAME comes back as it was.
		{"b", false, "a", true, []step{stepStopOther, stepResume, stepEndConsole}},
		{"", false, "a", true, []step{stepResume, stepEndConsole}},
	})
}

// The one in front is never stopped by switch: it is parked.
func TestPlanSwitch(t *testing.T) {
	checkPlan(t, "planSwitch", planSwitch, []planCase{
		{"", false, "a", false, []step{stepBoot, stepEndConsole}},
		{"", false, "a", true, []step{stepResume, stepEndConsole}},
		{"a", false, "a", false, nil},
		// Ctrl+Alt+J froze a; switch a gives it back, as run does.
		{"a", true, "a", false, []step{stepEndConsole, stepThaw}},
		{"b", false, "a", false, []step{stepPark, stepBoot, stepEndConsole}},
		{"b", false, "a", true, []step{stepPark, stepResume, stepEndConsole}},
		{"b", true, "a", true, []step{stepPark, stepResume, stepEndConsole}},
	})
}

func TestStateOf(t *testing.T) {
	if stateOf(true, false) != Running || stateOf(true, true) != Frozen || stateOf(false, true) != Resident {
		t.Fatal("stateOf disagrees with SPEC §4")
	}
}

func TestEvictions(t *testing.T) {
	t0 := time.Unix(1000, 0)
	res := []parked{{"c", t0.Add(3 * time.Second)}, {"a", t0.Add(1 * time.Second)}, {"b", t0.Add(2 * time.Second)}}
	cases := []struct {
		max   int
		short bool
		want  []string
	}{
		{0, false, []string{}},
		{3, false, []string{}},
		{2, false, []string{"a"}},
		{1, false, []string{"a", "b"}},
		{0, true, []string{"a"}},
		{2, true, []string{"a", "b"}},
		{1, true, []string{"a", "b", "c"}},
	}
	for _, c := range cases {
		if got := evictions(res, c.max, c.short); !slices.Equal(got, c.want) {
			t.Errorf("evictions(max %d, short %v) = %v, want %v", c.max, c.short, got, c.want)
		}
	}
	if got := evictions(nil, 0, true); len(got) != 0 {
		t.Errorf("evictions of nothing = %v", got)
	}
}

func TestMemoryPolicy(t *testing.T) {
	psi := "some avg10=12.50 avg60=3.00 avg300=1.00 total=123\nfull avg10=1.00 avg60=0.00 avg300=0.00 total=5\n"
	avg, err := parsePSI(strings.NewReader(psi))
	if err != nil || avg != 12.5 {
		t.Fatalf("parsePSI = %v, %v; want 12.5", avg, err)
	}
	if _, err := parsePSI(strings.NewReader("full avg10=1.00\n")); err == nil {
		t.Error("parsePSI without a some line: no error")
	}
	mi := "MemTotal:        8000000 kB\nMemFree:          100000 kB\nMemAvailable:     300000 kB\n"
	avail, total, err := parseMeminfo(strings.NewReader(mi))
	if err != nil || avail != 300000 || total != 8000000 {
		t.Fatalf("parseMeminfo = %d %d %v", avail, total, err)
	}
	p := memoryPolicy{On: true, Pressure: 10, Free: 5}
	cases := []struct {
		s     memorySample
		short bool
		why   string
	}{
		{memorySample{SomeAvg10: 0, Available: 4000, Total: 8000}, false, ""},
		{memorySample{SomeAvg10: 12.5, Available: 4000, Total: 8000}, true, "pressure"},
		{memorySample{SomeAvg10: 0, Triggered: true, Available: 4000, Total: 8000}, true, "pressure"},
		{memorySample{SomeAvg10: 0, Available: 300, Total: 8000}, true, "free memory"},
		{memorySample{SomeAvg10: -1}, false, ""}, // nothing known
	}
	for _, c := range cases {
		short, why := p.short(c.s)
		if short != c.short || !strings.Contains(why, c.why) {
			t.Errorf("short(%+v) = %v %q, want %v %q", c.s, short, why, c.short, c.why)
		}
	}
	if short, _ := (memoryPolicy{Pressure: 10, Free: 5}).short(memorySample{SomeAvg10: 90}); short {
		t.Error("policy off, yet short")
	}
}

func TestCycleTarget(t *testing.T) {
	live := []string{"a", "b", "c"}
	cases := []struct {
		live    []string
		front   string
		forward bool
		want    string
	}{
		{live, "a", true, "b"},
		{live, "c", true, "a"},
		{live, "a", false, "c"},
		{live, "b", false, "a"},
		{live, "", true, "a"},
		{live, "", false, "c"},
		{[]string{"a"}, "a", true, ""},
		{[]string{"a"}, "a", false, ""},
		{nil, "", true, ""},
	}
	for _, c := range cases {
		if got := cycleTarget(c.live, c.front, c.forward); got != c.want {
			t.Errorf("cycleTarget(%v, %q, %v) = %q, want %q", c.live, c.front, c.forward, got, c.want)
		}
	}
}
