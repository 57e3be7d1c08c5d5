package daemon

import (
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"initns/daemon/pid1"
	"initns/store"
)

// BootConfig is what the daemon does at machine start: the boot menu, and
// how many ends too soon after a boot mark an instance failed.
type BootConfig struct {
	// Start: act as at machine start (always so as PID 1): show the boot
	// menu on the console if asked, then boot the default instance.
	Start bool
	// Menu is the boot menu's countdown in seconds: 0 shows none; -1
	// leaves it to the stored setting (initns default --menu).
	Menu int
	// Tries is how many ends in a row, each within FailWithin of its
	// boot, mark an instance failed.
	Tries      int
	FailWithin time.Duration
	// Shell is the terminal of initns.shell=, which the menu stays off:
	// the shell there reads the same keys.
	Shell string
	// Run is the instance of initns.run=, booted at start instead of the
	// stored default.
	Run string
}

// The defaults of fallback (README, "Boot menu, fallback, history").
const (
	defaultTries      = 3
	defaultFailWithin = 30 * time.Second
)

func (b *BootConfig) flags(fs *flag.FlagSet) {
	fs.BoolVar(&b.Start, "boot", false, "act as at machine start (as PID 1 always): boot menu on --console, then the default instance")
	fs.IntVar(&b.Menu, "menu", -1, "the boot menu's countdown in seconds (0: no menu; default: the stored setting, else none)")
	fs.IntVar(&b.Tries, "tries", defaultTries, "ends in a row, each within --fail-within of the boot, that mark an instance failed")
	fs.DurationVar(&b.FailWithin, "fail-within", defaultFailWithin, "an instance's init ending this soon after its boot counts as a failed try")
}

func (b *BootConfig) check() error {
	switch {
	case b.Menu < -1 || b.Menu > store.MaxMenuSeconds:
		return fmt.Errorf("--menu %d: say 0 (no menu) to %d seconds", b.Menu, store.MaxMenuSeconds)
	case b.Tries < 1:
		return fmt.Errorf("--tries %d: must be at least 1", b.Tries)
	case b.FailWithin <= 0:
		return fmt.Errorf("--fail-within %v: must be positive", b.FailWithin)
	}
	return nil
}

// applyBoot takes initns.menu=, initns.tries=, initns.fail-within= (a Go
// duration or seconds) and initns.console= (a name under /dev or a path)
// from the kernel command line; a bad value is logged and ignored, as PID 1
// never stops on a usage error.
func (c *Config) applyBoot(s pid1.Settings, log *slog.Logger) {
	b := &c.Boot
	b.Shell, b.Run = s.Shell, s.Get("run")
	if v := s.Get("menu"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= store.MaxMenuSeconds {
			b.Menu = n
		} else {
			log.Error("initns.menu: not a number of seconds (0 to a day); ignored", "value", v)
		}
	}
	if v := s.Get("tries"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 {
			b.Tries = n
		} else {
			log.Error("initns.tries: not a count of at least 1; ignored", "value", v)
		}
	}
	if v := s.Get("fail-within"); v != "" {
		if d, ok := parseSeconds(v); ok {
			b.FailWithin = d
		} else {
			log.Error("initns.fail-within: not a duration (30s, 2m) or seconds; ignored", "value", v)
		}
	}
	if v := s.Get("console"); v != "" {
		if !strings.HasPrefix(v, "/") {
			v = filepath.Join("/dev", v)
		}
		c.Console = v
	}
}

// parseSeconds reads a positive duration: "30s", "2m", or bare seconds.
func parseSeconds(v string) (time.Duration, bool) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, n > 0
	}
	d, err := time.ParseDuration(v)
	return d, err == nil && d > 0
}
