package nsexec

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Main is the child side, run as PID 1 of the new PID namespace. It never
// returns on success: it becomes the instance's /sbin/init.
func Main(args []string) int {
	// Mount namespace changes and the exec must happen on one thread.
	runtime.LockOSThread()
	if _, err := unix.FcntlInt(errFD, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		fmt.Fprintln(os.Stderr, "initns-nsexec: internal stage, started only by the init daemon")
		return 2
	}
	if len(args) != 2 {
		return fail(errors.New("internal: usage: initns-nsexec ROOTFS"))
	}
	return fail(boot(args[1]))
}

// fail reports the error to the daemon and exits non-zero: the stage must
// never return into anything else.
func fail(err error) int {
	unix.Write(errFD, []byte(err.Error()))
	return 1
}

func boot(rootfs string) error {
	if err := enterRoot(rootfs); err != nil {
		return err
	}
	if err := checkInit(rootfs); err != nil {
		return err
	}
	// Descriptors the daemon inherited without close-on-exec (from whoever
	// started it) must not leak into the instance.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close inherited descriptors: %w", err)
	}
	resetSignals()
	err := unix.Exec(Init, []string{Init}, os.Environ())
	return fmt.Errorf("exec %s in %s: %w", Init, rootfs, err)
}

// enterRoot makes rootfs the root of this mount namespace.
func enterRoot(rootfs string) error {
	// Without this, the mounts below would propagate back to the host's
	// shared mounts (systemd makes / shared).
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	// pivot_root needs the new root to be a mount point.
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", rootfs, err)
	}
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("enter %s: %w", rootfs, err)
	}
	err := pivot()
	if errors.Is(err, unix.EINVAL) {
		// The initramfs "rootfs" can never be unmounted, so the kernel
		// refuses to pivot away from it: move the new root over / instead.
		err = moveRoot()
	}
	return err
}

// pivot stacks the old root under the new one with pivot_root(".", ".")
// and detaches it, so no directory for the old root is needed in rootfs.
func pivot() error {
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// moveRoot is the initramfs path: MS_MOVE the new root onto / and chroot.
func moveRoot() error {
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move root over /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

// checkInit names the problem a bare exec error would hide.
func checkInit(rootfs string) error {
	var st unix.Stat_t
	if err := unix.Stat(Init, &st); err != nil {
		return fmt.Errorf("no %s in the root filesystem %s (%w): install an init there, or use another image", Init, rootfs, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0 {
		return fmt.Errorf("%s in %s is not an executable file (mode %o): chmod +x it", Init, rootfs, st.Mode)
	}
	return nil
}

// resetSignals gives init the default disposition of every signal and an
// empty mask, as the kernel gives PID 1: the daemon may have been started
// with signals ignored, and ignored dispositions survive execve.
func resetSignals() {
	type sigaction struct {
		handler  uintptr
		flags    uint64
		restorer uintptr
		mask     uint64
	}
	dfl := sigaction{handler: 0} // SIG_DFL
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
	}
	var empty unix.Sigset_t
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&empty)), 0, 8, 0, 0)
}
