package daemon

import (
	"strings"
	"testing"
)

func TestInnerPid(t *testing.T) {
	for in, want := range map[string]int{
		"Name:\tinit\nNSpid:\t4242\t1\n": 1,
		"NSpid:\t4242\n":                 4242,
		"NSpid:\t9\t5\t1\n":              1,
	} {
		if got, ok := innerPid(strings.NewReader(in)); !ok || got != want {
			t.Errorf("innerPid(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	if _, ok := innerPid(strings.NewReader("Name:\tx\n")); ok {
		t.Error("innerPid found a pid without an NSpid line")
	}
}
