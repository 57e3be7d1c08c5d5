package pid1

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// catchCtrlAltDel turns off the kernel's immediate reboot on Ctrl+Alt+Del:
// from then on the kernel sends SIGINT to PID 1 instead, which the daemon
// takes as a graceful reboot.
func catchCtrlAltDel() error {
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		return fmt.Errorf("reboot(CAD_OFF): %w", err)
	}
	return nil
}
