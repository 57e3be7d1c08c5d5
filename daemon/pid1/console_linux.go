package pid1

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ensureConsole gives the process stdin, stdout and stderr on /dev/console
// when the kernel could not (an initramfs without a /dev/console node boots
// init with no descriptors at all, and writes to fd 2 would then go to
// whatever file the daemon opens first).
func ensureConsole() error {
	if _, err := unix.FcntlInt(0, unix.F_GETFD, 0); err == nil {
		return nil
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open /dev/console: %w", err)
	}
	for target := 0; target <= 2; target++ {
		if fd != target {
			if err := unix.Dup3(fd, target, 0); err != nil {
				return fmt.Errorf("dup /dev/console to %d: %w", target, err)
			}
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
	return nil
}
