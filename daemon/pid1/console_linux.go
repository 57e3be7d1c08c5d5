package pid1

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// devNull is /dev/null's device number (major 1, minor 3).
var devNull = unix.Mkdev(1, 3)

// ensureConsole gives the process stdin, stdout and stderr on /dev/console
// where it has none. An initramfs without a /dev/console node makes the
// kernel start init with no descriptors at all; the Go runtime then opens
// /dev/null for them before main (and dies if there is no /dev/null: the
// initramfs must hold one node or the other). Either way PID 1's messages
// would be lost, so a descriptor that is closed or /dev/null is replaced.
func ensureConsole() error {
	var missing []int
	for fd := 0; fd <= 2; fd++ {
		var st unix.Stat_t
		err := unix.Fstat(fd, &st)
		if err != nil || st.Mode&unix.S_IFMT == unix.S_IFCHR && uint64(st.Rdev) == devNull {
			missing = append(missing, fd)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	console, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/console: %w", err)
	}
	defer unix.Close(console)
	for _, fd := range missing {
		// Dup3 without O_CLOEXEC: these three are inherited as stdio.
		if err := unix.Dup3(console, fd, 0); err != nil {
			return fmt.Errorf("dup /dev/console to %d: %w", fd, err)
		}
	}
	return nil
}
