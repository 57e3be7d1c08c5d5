package initsys

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Init is where an instance's init is.
const Init = "/sbin/init"

// OpenInRoot opens path as the instance whose root directory is rootFD
// sees it: every symlink (absolute ones included) and every ".." is
// resolved inside that root, never on the host. With rootFD from
// /proc/PID/root of a running instance, the instance's own mounts count
// too (its /run, say).
func OpenInRoot(rootFD int, path string, flags int, mode uint32) (*os.File, error) {
	how := &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Mode:    uint64(mode),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	rel := strings.TrimLeft(path, "/")
	fd, err := unix.Openat2(rootFD, rel, how)
	// EAGAIN: a rename or mount inside the root raced the walk, and the
	// kernel refuses to guess; a few tries see a settled tree.
	for try := 0; try < 8 && (err == unix.EAGAIN || err == unix.EINTR); try++ {
		fd, err = unix.Openat2(rootFD, rel, how)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Detect names the init of the root filesystem at root (a host path) by
// reading its /sbin/init inside that root. Unknown, with the reason, when
// there is none or it is no program initns knows.
func Detect(root string) (Kind, error) {
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Unknown, fmt.Errorf("open root filesystem %s: %w", root, err)
	}
	defer unix.Close(dir)
	return DetectAt(dir)
}

// DetectAt is Detect on an open root directory.
func DetectAt(rootFD int) (Kind, error) {
	// O_NONBLOCK: a FIFO planted as /sbin/init must not hang the daemon.
	f, err := OpenInRoot(rootFD, Init, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return Unknown, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Unknown, err
	}
	if !st.Mode().IsRegular() {
		return Unknown, fmt.Errorf("%s is not a regular file (%v)", Init, st.Mode().Type())
	}
	// The name the last symlink led to, as the instance sees it: the
	// descriptor's path relative to the root.
	target := Init
	if host, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err == nil {
		target = host
	}
	data, err := io.ReadAll(io.LimitReader(f, maxInitRead))
	if err != nil && !errors.Is(err, io.EOF) {
		return Unknown, fmt.Errorf("read %s: %w", Init, err)
	}
	return Classify(target, data), nil
}
