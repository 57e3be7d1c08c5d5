package procstatus

import (
	"os"
	"slices"
	"strconv"
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
		st, err := Fields(strings.NewReader(c.status), "NSpid")
		if err != nil {
			t.Fatal(err)
		}
		got, ok := nspid(st)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("nspid(%q) = %v, %v; want %v, %v", c.status, got, ok, c.want, c.ok)
		}
	}
}

func TestInGroup(t *testing.T) {
	const status = "Name:\tx\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t200\t300\t400\nGroups:\t24 27 1001 \nNSpid:\t1\n"
	st, err := Fields(strings.NewReader(status), "Gid", "Groups")
	if err != nil {
		t.Fatal(err)
	}
	for gid, want := range map[int]bool{200: true, 27: true, 1001: true, 100: false, 300: false, 1000: false, 2: false} {
		if got := inGroup(st, gid); got != want {
			t.Errorf("gid %d: %v, want %v (effective gid or a supplementary group only)", gid, got, want)
		}
	}
}

// TestLive reads this process's own status.
func TestLive(t *testing.T) {
	if !InGroup(os.Getpid(), os.Getegid()) {
		t.Errorf("this process is not in its own effective group %d", os.Getegid())
	}
	ns, ok := NSpid("self")
	if !ok || ns[0] != os.Getpid() {
		t.Errorf("NSpid(self) = %v, %v; want it to start with %d", ns, ok, os.Getpid())
	}
	if ns2, ok := NSpid(strconv.Itoa(os.Getpid())); !ok || !slices.Equal(ns, ns2) {
		t.Errorf("NSpid by number %v, by self %v", ns2, ns)
	}
	if _, ok := NSpid("999999999"); ok {
		t.Error("a process that does not exist has an NSpid")
	}
}
