package pid1

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// modprobeConf is what initns honours of modprobe.d(5): the configuration a
// distribution ships for the modules udev and modprobe would load.
type modprobeConf struct {
	// Blacklist holds modules never loaded for hardware (their aliases are
	// ignored); a module named on purpose (evdev, initns.modules=) still
	// loads, as `modprobe NAME` would.
	Blacklist map[string]bool
	// Options are the parameters to load a module with ("p=v q=w").
	Options map[string]string
	// Pre are the soft dependencies to load before a module, best effort.
	Pre map[string][]string
}

// newModprobeConf returns an empty configuration.
func newModprobeConf() *modprobeConf {
	return &modprobeConf{Blacklist: map[string]bool{}, Options: map[string]string{}, Pre: map[string][]string{}}
}

// Parse adds one modprobe.d file's "blacklist", "options" and "softdep"
// lines to c. Comments, "alias", "install" and "remove" (initns runs no
// commands for modules) are ignored; a trailing backslash continues a line.
func (c *modprobeConf) Parse(r io.Reader) error {
	sc := bufio.NewScanner(r)
	var line string
	for sc.Scan() {
		line += sc.Text()
		if strings.HasSuffix(line, `\`) {
			line = strings.TrimSuffix(line, `\`) + " "
			continue
		}
		c.parseLine(line)
		line = ""
	}
	c.parseLine(line)
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read modprobe.d: %w", err)
	}
	return nil
}

func (c *modprobeConf) parseLine(line string) {
	f := strings.Fields(line)
	if len(f) < 2 || strings.HasPrefix(f[0], "#") {
		return
	}
	name := moduleName(f[1])
	switch f[0] {
	case "blacklist":
		c.Blacklist[name] = true
	case "options":
		if len(f) > 2 {
			c.Options[name] = strings.TrimSpace(c.Options[name] + " " + strings.Join(f[2:], " "))
		}
	case "softdep":
		pre := false
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				pre = true
			case "post:":
				pre = false
			default:
				if pre {
					c.Pre[name] = append(c.Pre[name], moduleName(w))
				}
			}
		}
	}
}

// AddCmdline applies the kernel command line's modprobe.blacklist=a,b and
// MODULE.PARAM=VALUE words (s.ModuleParams), which come after the files:
// a parameter given on the command line wins.
func (c *modprobeConf) AddCmdline(s Settings) {
	for mod, params := range s.ModuleParams {
		if mod == "modprobe" {
			for _, p := range strings.Fields(params) {
				if list, ok := strings.CutPrefix(p, "blacklist="); ok {
					for _, m := range splitList(list) {
						c.Blacklist[moduleName(m)] = true
					}
				}
			}
			continue
		}
		c.Options[mod] = strings.TrimSpace(c.Options[mod] + " " + params)
	}
}
