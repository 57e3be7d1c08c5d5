// Package passwd reads the user and group databases of an instance: the
// lines of its /etc/passwd and /etc/group, from readers the caller opened
// inside the instance's root. It builds anywhere; nothing here opens a
// file.
package passwd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// User is one entry of /etc/passwd.
type User struct {
	Name     string
	Uid, Gid uint32
	Home     string
	Shell    string
}

// ErrNoUser is a name or uid that /etc/passwd does not list.
var ErrNoUser = errors.New("no such user")

// maxLine bounds a line of either file, so a hostile instance cannot make
// the daemon hold a huge one; longer lines are skipped.
const maxLine = 64 << 10

// Lookup finds user (a name, or a uid written in decimal) in r, a
// passwd file. A name is matched first, as getpwnam would; a number that
// names no user is matched against the uids.
func Lookup(r io.Reader, user string) (User, error) {
	var byUid *User
	uid, numErr := strconv.ParseUint(user, 10, 32)
	err := eachLine(r, 7, func(f []string) bool {
		u, ok := parseUser(f)
		switch {
		case !ok:
		case u.Name == user:
			byUid = &u
			return false
		case numErr == nil && u.Uid == uint32(uid) && byUid == nil:
			byUid = &u
		}
		return true
	})
	if err != nil {
		return User{}, err
	}
	if byUid == nil {
		return User{}, fmt.Errorf("%s: %w", user, ErrNoUser)
	}
	return *byUid, nil
}

func parseUser(f []string) (User, bool) {
	uid, err1 := strconv.ParseUint(f[2], 10, 32)
	gid, err2 := strconv.ParseUint(f[3], 10, 32)
	if f[0] == "" || err1 != nil || err2 != nil {
		return User{}, false
	}
	return User{Name: f[0], Uid: uint32(uid), Gid: uint32(gid), Home: f[5], Shell: f[6]}, true
}

// maxGroups is the most supplementary groups a user gets, the kernel's
// NGROUPS_MAX.
const maxGroups = 65536

// Groups lists the gids of the groups of r (a group file) that name user
// as a member, and gid, the user's primary group, first.
func Groups(r io.Reader, user string, gid uint32) ([]uint32, error) {
	gids := []uint32{gid}
	err := eachLine(r, 4, func(f []string) bool {
		g, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil || uint32(g) == gid {
			return true
		}
		for _, m := range strings.Split(f[3], ",") {
			if m == user {
				gids = append(gids, uint32(g))
				break
			}
		}
		return len(gids) < maxGroups
	})
	return gids, err
}

// eachLine calls fn with the colon-separated fields of each line of r
// that has exactly n of them, until fn returns false. Comments, blank
// lines, NIS lines (+, -) and over-long lines are skipped.
func eachLine(r io.Reader, n int, fn func([]string) bool) error {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			continue
		}
		text := strings.TrimSuffix(string(line), "\n")
		if text != "" && !strings.HasPrefix(text, "#") && !strings.HasPrefix(text, "+") && !strings.HasPrefix(text, "-") {
			if f := strings.Split(text, ":"); len(f) == n && !fn(f) {
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
