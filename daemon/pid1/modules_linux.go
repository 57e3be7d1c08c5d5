package pid1

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// modLoader loads modules by name from one module directory, each at most
// once.
type modLoader struct {
	dir     string // /lib/modules/RELEASE
	aliases aliasTable
	deps    depTable
	builtin map[string]bool
	tried   map[string]bool // loaded, already loaded, or failed
	conf    *modprobeConf
	log     *slog.Logger
	loaded  int
}

// LoadModules loads the kernel modules for the hardware present (every
// modalias under /sys/devices matched against modules.alias), then evdev
// and the modules of s.Modules, with their dependencies from modules.dep,
// as modprobe.d(5) and the kernel command line configure them (blacklist,
// options, softdep pre:, modprobe.blacklist=, MODULE.PARAM=VALUE).
// Loading a driver can reveal new devices (a bus driver finds what sits on
// its bus), so the hardware is scanned again until nothing new loads. A
// module that fails is logged and skipped.
func LoadModules(log *slog.Logger, s Settings) {
	start := time.Now()
	l, err := newModLoader(log, s)
	if err != nil {
		log.Error("kernel modules", "err", err)
		return
	}
	for round := 0; round < 4; round++ {
		before := len(l.tried)
		l.load(l.forHardware())
		if round == 0 {
			l.load(append([]string{"evdev"}, s.Modules...))
		}
		if len(l.tried) == before {
			break
		}
	}
	log.Info("kernel modules", "loaded", l.loaded, "dir", l.dir, "took", time.Since(start).Round(time.Millisecond))
}

func newModLoader(log *slog.Logger, s Settings) (*modLoader, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return nil, fmt.Errorf("uname: %w", err)
	}
	dir := filepath.Join("/lib/modules", string(bytes.TrimRight(u.Release[:], "\x00")))
	l := &modLoader{dir: dir, tried: map[string]bool{}, conf: readModprobeConf(log), log: log}
	l.conf.AddCmdline(s)
	var err error
	if l.deps, err = parseFile(filepath.Join(dir, "modules.dep"), parseDeps); err != nil {
		return nil, err
	}
	if l.aliases, err = parseFile(filepath.Join(dir, "modules.alias"), parseAliases); err != nil {
		log.Error("kernel modules: no hardware matching", "err", err)
	}
	if l.builtin, err = parseFile(filepath.Join(dir, "modules.builtin"), parseBuiltin); err != nil {
		log.Warn("kernel modules: built-in list", "err", err)
	}
	if loaded, err := parseFile("/proc/modules", parseProcModules); err == nil {
		for name := range loaded {
			l.tried[name] = true
		}
	}
	return l, nil
}

// parseFile opens path and parses it with parse.
func parseFile[T any](path string, parse func(r io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	return parse(f)
}

// forHardware returns the modules that match the devices' modaliases.
func (l *modLoader) forHardware() []string {
	var names []string
	filepath.WalkDir("/sys/devices", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() != "modalias" || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, n := range l.aliases.Lookup(string(bytes.TrimSpace(b))) {
			if !l.conf.Blacklist[n] {
				names = append(names, n)
			}
		}
		return nil
	})
	return names
}

// load loads names and what they need, skipping built-in and tried ones.
func (l *modLoader) load(names []string) {
	var want []string
	for _, n := range names {
		if n = moduleName(n); l.builtin[n] || l.tried[n] {
			continue
		}
		// Soft dependencies first, as modprobe loads them.
		for _, pre := range l.conf.Pre[n] {
			if !l.builtin[pre] && !l.tried[pre] {
				want = append(want, pre)
			}
		}
		want = append(want, n)
	}
	order, unknown := l.deps.Order(want)
	for _, n := range unknown {
		if !l.tried[n] {
			l.tried[n] = true
			l.log.Error("kernel module not found", "module", n, "dir", l.dir)
		}
	}
	for _, n := range order {
		if l.tried[n] || l.builtin[n] {
			continue
		}
		l.tried[n] = true
		if err := insertModule(filepath.Join(l.dir, l.deps[n].Path), l.conf.Options[n]); err != nil {
			l.log.Error("kernel module", "module", n, "err", err)
			continue
		}
		l.loaded++
		l.log.Info("kernel module loaded", "module", n)
	}
}

// modprobeDirs are where modprobe.d files live, in the order they take
// effect: a file of /etc replaces the file of the same name in /lib.
var modprobeDirs = []string{"/lib/modprobe.d", "/usr/lib/modprobe.d", "/run/modprobe.d", "/etc/modprobe.d"}

// readModprobeConf reads the *.conf files of modprobeDirs, in the order of
// their names as modprobe does; a file that cannot be read is logged.
func readModprobeConf(log *slog.Logger) *modprobeConf {
	byName := map[string]string{}
	for _, dir := range modprobeDirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
		for _, f := range files {
			byName[filepath.Base(f)] = f
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	c := newModprobeConf()
	for _, n := range names {
		f, err := os.Open(byName[n])
		if err != nil {
			log.Warn("modprobe.d", "err", err)
			continue
		}
		if err := c.Parse(f); err != nil {
			log.Warn("modprobe.d", "file", byName[n], "err", err)
		}
		f.Close()
	}
	return c
}
