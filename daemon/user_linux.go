package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"initns/daemon/internal/passwd"
	"initns/initsys"
	"initns/nsexec"
)

// maxUserDB bounds how much of an instance's /etc/passwd or /etc/group the
// daemon reads: a hostile instance cannot make it read for ever.
const maxUserDB = 16 << 20

// lookupUser finds user in the /etc/passwd of the instance whose root is
// rootFD, and its groups in that /etc/group, reading both inside its root
// (its own symlinks and mounts, never the host's). root needs no entry: an
// instance without a user database still has root, at home in /root with
// /bin/sh.
func lookupUser(rootFD int, user string) (passwd.User, *nsexec.Cred, error) {
	u, err := readUserDB(rootFD, "/etc/passwd", func(r io.Reader) (passwd.User, error) { return passwd.Lookup(r, user) })
	if err != nil && (user == "root" || user == "0") {
		u, err = passwd.User{Name: "root", Home: "/root", Shell: "/bin/sh"}, nil
	}
	if err != nil {
		return u, nil, fmt.Errorf("user %s: %w (users are read from the instance's own /etc/passwd)", user, err)
	}
	gids, err := readUserDB(rootFD, "/etc/group", func(r io.Reader) ([]uint32, error) { return passwd.Groups(r, u.Name, u.Gid) })
	if errors.Is(err, os.ErrNotExist) {
		gids, err = []uint32{u.Gid}, nil
	}
	if err != nil {
		return u, nil, fmt.Errorf("groups of user %s: %w", user, err)
	}
	return u, &nsexec.Cred{Uid: u.Uid, Gid: u.Gid, Groups: gids}, nil
}

// readUserDB opens path inside the root and parses it; a FIFO or device
// planted there is refused, not waited on.
func readUserDB[T any](rootFD int, path string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := initsys.OpenInRoot(rootFD, path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return zero, fmt.Errorf("%s is not a regular file", path)
	}
	return parse(io.LimitReader(f, maxUserDB))
}

// isDir tells whether path is a directory inside the root.
func isDir(rootFD int, path string) bool {
	f, err := initsys.OpenInRoot(rootFD, path, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err == nil {
		f.Close()
	}
	return err == nil
}
