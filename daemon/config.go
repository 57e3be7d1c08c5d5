package daemon

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"initns/hostkernel"
)

// Config is the daemon's settings, from flags, then the environment, then
// the defaults of SPEC §2.
type Config struct {
	Root        string
	Socket      string
	Cgroup      string // parent cgroup; empty: <cgroup2 mount>/initns
	Log         string // empty: <root>/log
	Console     string // init's stdin/stdout/stderr
	HaltSignal  unix.Signal
	StopTimeout time.Duration
	Debug       bool // enables the test-only debug-panic request
	Hotkey      bool // Ctrl+Alt+J opens the host shell on VT63
	// Host is where the running kernel's modules, firmware and loaded
	// drivers are (hostkernel.Running() unless a test points elsewhere).
	Host hostkernel.Host

	// Resident instances (`switch`): at most ResidentMax (0: no cap), and
	// the memory policy that stops the least recently used one.
	ResidentMax int
	Memory      memoryPolicy
	// SwitchKeys are the chords that cycle the console through the live
	// instances: next and previous.
	SwitchKeys string
	Boot       BootConfig

	// The socket's budget (RELIABILITY.md, "Resource budget"); settable
	// so that tests need not wait a minute.
	MaxConns    int           // connections served at once; past it, refused with one line
	IdleTimeout time.Duration // a connection silent this long between requests is closed
	LineTimeout time.Duration // a request line must end this long after its first byte
}

// The socket's budget by default: see RELIABILITY.md, "Resource budget",
// for the reasons behind each number.
const (
	defaultMaxConns    = 512
	defaultIdleTimeout = 60 * time.Second
	defaultLineTimeout = 10 * time.Second
)

// env returns the environment variable or the default.
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// parseFlags reads the daemon's flags. As PID 1 the kernel passes words of
// its command line it does not know; those are returned as leftovers and
// logged, never fatal.
func parseFlags(args []string, stderr io.Writer) (Config, []string, error) {
	c := Config{}
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Root, "root", env("INITNS_ROOT", "/var/lib/initns"), "state root")
	fs.StringVar(&c.Socket, "socket", env("INITNS_SOCKET", "/run/initns.sock"), "socket path")
	fs.StringVar(&c.Cgroup, "cgroup", env("INITNS_CGROUP", ""), "parent cgroup (default <cgroup2 mount>/initns)")
	fs.StringVar(&c.Log, "log", env("INITNS_LOG", ""), "log file (default <root>/log)")
	fs.StringVar(&c.Console, "console", env("INITNS_CONSOLE", "/dev/console"), "terminal given to an instance's init")
	halt := fs.Int("halt-signal", sigRTMin+4, "signal number asking an instance's init to power off (default SIGRTMIN+4, systemd's poweroff)")
	fs.DurationVar(&c.StopTimeout, "stop-timeout", 10*time.Second, "default graceful stop timeout")
	fs.BoolVar(&c.Debug, "debug", false, "enable test-only requests")
	fs.BoolVar(&c.Hotkey, "hotkey", true, "Ctrl+Alt+J freezes the instance and opens a host shell on VT63")
	c.Boot.flags(fs)
	fs.IntVar(&c.MaxConns, "max-connections", defaultMaxConns, "connections served at once; past it, one is refused with one line")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", defaultIdleTimeout, "a connection silent this long between requests is closed")
	fs.DurationVar(&c.LineTimeout, "line-timeout", defaultLineTimeout, "a request line must end this long after its first byte")
	c.switchFlags(fs)
	kernelRoot := fs.String("kernel-root", "/", "where the running kernel's lib/modules, lib/firmware and sys/module are (tests point it at a fake)")
	err := fs.Parse(args)
	c.HaltSignal = unix.Signal(*halt)
	c.Host = hostkernel.Running().Under(*kernelRoot)
	if c.Log == "" {
		c.Log = filepath.Join(c.Root, "log")
	}
	if err == nil && (*halt < 1 || *halt > 64) {
		err = fmt.Errorf("--halt-signal %d: not a signal number (1-64)", *halt)
	}
	if err == nil {
		err = c.checkBudget()
	}
	if err == nil {
		err = c.Boot.check()
	}
	return c, fs.Args(), err
}

// checkBudget refuses a socket budget that would refuse everything.
func (c *Config) checkBudget() error {
	switch {
	case c.MaxConns < 1:
		return fmt.Errorf("--max-connections %d: must be at least 1", c.MaxConns)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("--idle-timeout %v: must be positive", c.IdleTimeout)
	case c.LineTimeout <= 0:
		return fmt.Errorf("--line-timeout %v: must be positive", c.LineTimeout)
	case c.ResidentMax < 0:
		return fmt.Errorf("--resident-max %d: must be 0 (no cap) or more", c.ResidentMax)
	case c.Memory.Pressure <= 0 || c.Memory.Pressure > 100:
		return fmt.Errorf("--memory-pressure %v: a percentage above 0, at most 100", c.Memory.Pressure)
	case c.Memory.Free < 0 || c.Memory.Free > 100:
		return fmt.Errorf("--memory-free %v: a percentage from 0 to 100", c.Memory.Free)
	}
	return nil
}

// switchFlags are the settings of `switch`, also read from the kernel
// command line as initns.NAME=VALUE (Config.apply).
func (c *Config) switchFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.ResidentMax, "resident-max", 0, "at most this many resident instances (frozen in the background by switch); past it the least recently used is stopped (0: no cap)")
	fs.BoolVar(&c.Memory.On, "memory-policy", true, "stop the least recently used resident instance when memory is short")
	fs.Float64Var(&c.Memory.Pressure, "memory-pressure", 10, "memory is short when tasks stall on it this % of the time (PSI some, 10 s average, or over 1 s)")
	fs.Float64Var(&c.Memory.Free, "memory-free", 5, "memory is short when MemAvailable falls below this % of MemTotal")
	fs.StringVar(&c.SwitchKeys, "switch-keys", "ctrl+alt+pagedown,ctrl+alt+pageup", "the chords that give the console to the next and the previous live instance")
}

// sigRTMin is SIGRTMIN as programs see it: the kernel's first real-time
// signal is 32, and the C library keeps 32 and 33 for itself, so systemd's
// SIGRTMIN+4 is signal 38.
const sigRTMin = 34
