package initsys

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Target is a running instance's init: its host pid and a pidfd of it,
// which a recycled pid can never alias.
type Target struct {
	Pid   int
	PidFD int // -1: signal by pid
	// Root is the init's root directory as the init sees it; empty means
	// /proc/PID/root.
	Root string
}

// Ask sends the request to the running init. Files it writes (sysvinit's
// FIFO, runit's stopit, systemd's container-manager) are opened inside
// the instance's root and mounts, through /proc/PID/root, so a symlink
// there never leads onto the host. When the init was asked but systemd
// could not be told it runs in a container, the error wraps ErrNotTold:
// the stop goes on, and the caller says what it may cost.
func Ask(t Target, r Request) error {
	var told error
	switch {
	case r.Runlevel != 0:
		return t.initctl(r.Runlevel)
	case r.Runit:
		if err := t.runitFiles(r); err != nil {
			return err
		}
	case r.Container:
		if err := t.tellContainer(); err != nil {
			told = fmt.Errorf("%w: %w", ErrNotTold, err)
		}
	}
	if err := t.signal(r.Signal); err != nil {
		return err
	}
	return told
}

// ErrNotTold means systemd was asked to go down but could not be told
// first that it runs in a container (tellContainer): its last step may
// turn off the machine's swap and detach its unused loop, device-mapper
// and MD devices.
var ErrNotTold = errors.New("systemd could not be told it runs in a container")

func (t Target) signal(sig syscall.Signal) error {
	if t.PidFD >= 0 {
		return unix.PidfdSendSignal(t.PidFD, sig, nil, 0)
	}
	return unix.Kill(t.Pid, sig)
}

// root opens the init's root directory as the init sees it.
func (t Target) root() (int, error) {
	dir := t.Root
	if dir == "" {
		dir = "/proc/" + strconv.Itoa(t.Pid) + "/root"
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open the root of the instance's init (%s): %w", dir, err)
	}
	// The pid was read before the open: make sure it is still our init.
	if t.PidFD >= 0 {
		if err := unix.PidfdSendSignal(t.PidFD, 0, nil, 0); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("the instance's init is gone: %w", err)
		}
	}
	return fd, nil
}

// tellContainer makes the instance's systemd-shutdown, the program its
// systemd ends with, take the instance for a container: it reads
// /run/host/container-manager (systemd 247 and later), written here into
// the instance's own /run. Taken for a machine, it would sync every file
// system, turn off all the machine's swap and detach every loop, device-
// mapper and MD device not in use: the machine's, and those of the other
// systems on it. Its PID 1, already running, has decided long before and
// is not affected. Nothing is written unless /run is a tmpfs of the
// instance's own, which ends with it, so that the next boot is not a
// container's.
func (t Target) tellContainer() error {
	root, err := t.root()
	if err != nil {
		return err
	}
	defer unix.Close(root)
	run, err := OpenInRoot(root, "/run", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer run.Close()
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(run.Fd()), &fs); err != nil {
		return fmt.Errorf("statfs /run: %w", err)
	}
	if fs.Type != unix.TMPFS_MAGIC {
		return fmt.Errorf("its /run is no tmpfs (file system %#x): nothing written there, which would outlive this boot", fs.Type)
	}
	if err := unix.Mkdirat(int(run.Fd()), "host", 0o755); err != nil && err != unix.EEXIST {
		return fmt.Errorf("mkdir /run/host: %w", err)
	}
	host, err := OpenInRoot(root, "/run/host", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer host.Close()
	// O_EXCL: nothing already there is ever opened (a link to a device
	// whose opening acts, say); whatever it is, it is removed first.
	const name = "container-manager"
	create := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_NOCTTY
	fd, err := unix.Openat(int(host.Fd()), name, create|unix.O_CLOEXEC, 0o644)
	if err == unix.EEXIST {
		if err := unix.Unlinkat(int(host.Fd()), name, 0); err != nil {
			return fmt.Errorf("remove the old %s: %w", ContainerManager, err)
		}
		fd, err = unix.Openat(int(host.Fd()), name, create|unix.O_CLOEXEC, 0o644)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", ContainerManager, err)
	}
	f := os.NewFile(uintptr(fd), ContainerManager)
	defer f.Close()
	if _, err := f.WriteString("initns\n"); err != nil {
		return fmt.Errorf("write %s: %w", ContainerManager, err)
	}
	return nil
}

// ContainerManager is where systemd looks for the container manager's
// name (tellContainer).
const ContainerManager = "/run/host/container-manager"

// ErrNoInitctl means sysvinit's control FIFO was not there or nobody read
// it: the init is not sysvinit after all, or not yet listening.
var ErrNoInitctl = errors.New("no sysvinit control FIFO to write to")

// initctl writes a runlevel change to /run/initctl (or the older
// /dev/initctl), as telinit does.
func (t Target) initctl(runlevel byte) error {
	root, err := t.root()
	if err != nil {
		return err
	}
	defer unix.Close(root)
	var errs []error
	for _, p := range []string{"/run/initctl", "/dev/initctl"} {
		// O_NONBLOCK: opening a FIFO without a reader fails (ENXIO)
		// instead of waiting for one that may never come.
		f, err := OpenInRoot(root, p, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = writeFIFO(f, InitctlRequest(runlevel))
		f.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%w: %w", ErrNoInitctl, errors.Join(errs...))
}

func writeFIFO(f *os.File, req []byte) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Mode().Type() != os.ModeNamedPipe {
		return fmt.Errorf("%s is not a FIFO", f.Name())
	}
	// 384 bytes is below PIPE_BUF: the write is atomic, all or nothing.
	n, err := f.Write(req)
	if err == nil && n != len(req) {
		err = fmt.Errorf("short write to %s", f.Name())
	}
	return err
}

// runitFiles sets runit's stage-3 switches (runit(8)): an executable
// stopit file makes SIGCONT end stage 2, and the reboot file, executable
// or not, chooses reboot or halt. Where they are is compiled into runit:
// upstream and Void use /etc/runit/stopit (Void links it into /run),
// Debian's build /run/runit.stopit. The instance's own runit says which,
// and the files are opened inside the instance's mounts, where /run is
// its own.
func (t Target) runitFiles(r Request) error {
	root, err := t.root()
	if err != nil {
		return err
	}
	defer unix.Close(root)
	stopit, reboot := runitPaths(root)
	rebootMode := uint32(0)
	if r.Reboot {
		rebootMode = 0o100
	}
	if err := setMode(root, reboot, rebootMode); err != nil {
		return err
	}
	return setMode(root, stopit, 0o100)
}

// runitPaths finds the stopit and reboot files the instance's runit was
// built with, from the runit-init that /sbin/init is (it writes them when
// asked to halt, as telinit would).
func runitPaths(root int) (stopit, reboot string) {
	f, err := OpenInRoot(root, Init, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err == nil {
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			data, _ := io.ReadAll(io.LimitReader(f, maxInitRead))
			return RunitPaths(data)
		}
	}
	return RunitPaths(nil)
}

func setMode(root int, path string, mode uint32) error {
	f, err := OpenInRoot(root, path, unix.O_WRONLY|unix.O_CREAT|unix.O_NONBLOCK|unix.O_NOCTTY, mode)
	if err != nil {
		return fmt.Errorf("runit's %s: %w", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("runit's %s is not a regular file", path)
	}
	if err := f.Chmod(os.FileMode(mode)); err != nil {
		return fmt.Errorf("runit's %s: %w", path, err)
	}
	return nil
}
