package passwd

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const passwdFile = `root:x:0:0:root:/root:/bin/bash
# a comment
+nis
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken:x:notanumber:1::/:/bin/sh
short:x:3
alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh
1001:x:1002:100::/home/num:/bin/sh
bob:x:1001:100::/home/bob:/bin/sh`

func TestLookup(t *testing.T) {
	for _, c := range []struct {
		user string
		want User
	}{
		{"root", User{"root", 0, 0, "/root", "/bin/bash"}},
		{"alice", User{"alice", 1000, 1000, "/home/alice", "/bin/zsh"}},
		{"1000", User{"alice", 1000, 1000, "/home/alice", "/bin/zsh"}},
		// A name wins over a uid, as getpwnam comes before getpwuid.
		{"1001", User{"1001", 1002, 100, "/home/num", "/bin/sh"}},
		{"1002", User{"1001", 1002, 100, "/home/num", "/bin/sh"}},
	} {
		got, err := Lookup(strings.NewReader(passwdFile), c.user)
		if err != nil || got != c.want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", c.user, got, err, c.want)
		}
	}
	for _, user := range []string{"nobody", "broken", "short", "", "4294967296", "+nis"} {
		if u, err := Lookup(strings.NewReader(passwdFile), user); !errors.Is(err, ErrNoUser) {
			t.Errorf("Lookup(%q) = %+v, %v; want ErrNoUser", user, u, err)
		}
	}
}

func TestLongLinesSkipped(t *testing.T) {
	long := strings.Repeat("x", 3*maxLine) + ":x:5:5::/:/bin/sh\n"
	got, err := Lookup(strings.NewReader(long+"carol:x:7:7::/home/c:/bin/sh\n"), "carol")
	if err != nil || got.Uid != 7 {
		t.Fatalf("after an over-long line: %+v, %v", got, err)
	}
}

func TestGroups(t *testing.T) {
	group := "root:x:0:\nsudo:x:27:alice,bob\nusers:x:100:bob\naudio:x:29:carol,alice\nbad:x:zz:alice\nalice:x:1000:\n"
	got, err := Groups(strings.NewReader(group), "alice", 1000)
	if want := []uint32{1000, 27, 29}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Groups(alice) = %v, %v; want %v", got, err, want)
	}
	got, _ = Groups(strings.NewReader(group), "bob", 100)
	if want := []uint32{100, 27}; !reflect.DeepEqual(got, want) {
		t.Errorf("Groups(bob) = %v; want %v (the primary group once)", got, want)
	}
}
