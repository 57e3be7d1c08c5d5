package pid1

import (
	"log/slog"
	"os"
	"time"
)

// Setup does what the kernel leaves to PID 1 before anything else can run:
// it guards against the signals that would end the Go process
// (guardSignals), mounts what is missing of /proc, /sys, /dev, /dev/pts,
// /run and cgroup2, remounts / read-write if the kernel left it read-only,
// gives the process stdin, stdout and stderr on /dev/console if it has
// none, turns off the kernel's immediate Ctrl+Alt+Del reboot (SIGINT
// arrives instead) and reads the initns.* settings from /proc/cmdline. The
// daemon calls it only when it is PID 1, then LoadModules beside its own
// start (module loading is most of a boot's second under emulation, and
// nothing before the socket needs it). Every failure is logged and the
// rest still done; nothing here stops the daemon.
func Setup(log *slog.Logger) Settings {
	start := time.Now()
	guardSignals(log)
	mountAPI(log)
	if err := ensureConsole(); err != nil {
		log.Error("console", "err", err)
	}
	if err := catchCtrlAltDel(); err != nil {
		log.Error("ctrl-alt-del", "err", err)
	}
	s, err := readSettings()
	if err != nil {
		log.Error("kernel command line", "err", err)
	}
	log.Info("pid1 setup done", "took", time.Since(start).Round(time.Millisecond),
		"shell", s.Shell, "debug", s.Debug, "modules", s.Modules)
	return s
}

// readSettings returns the initns.* settings of /proc/cmdline (usable by a
// daemon that is not PID 1 too).
func readSettings() (Settings, error) {
	f, err := os.Open("/proc/cmdline")
	if err != nil {
		return Settings{Values: map[string]string{}}, err
	}
	defer f.Close()
	return parseCmdline(f)
}
