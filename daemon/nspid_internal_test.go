package daemon

import (
	"slices"
	"strings"
	"testing"
)

func TestNspid(t *testing.T) {
	cases := []struct {
		status string
		want   []int
		ok     bool
	}{
		{"Name:\tinit\nNSpid:\t4242\t1\nNSsid:\t1\n", []int{4242, 1}, true},
		{"NSpid:\t7\n", []int{7}, true},
		{"NSpid:\t100\t12\t1\n", []int{100, 12, 1}, true},
		{"Name:\tx\n", nil, false},     // a kernel without NSpid
		{"NSpid:\t7\tx\n", nil, false}, // damaged
		{"NSpid:\n", nil, false},
	}
	for _, c := range cases {
		got, ok := nspid(strings.NewReader(c.status))
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("nspid(%q) = %v, %v; want %v, %v", c.status, got, ok, c.want, c.ok)
		}
	}
}
