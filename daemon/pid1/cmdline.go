package pid1

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// cmdlinePrefix starts every kernel command-line word that belongs to initns.
const cmdlinePrefix = "initns."

// Settings are the initns.KEY=VALUE words of the kernel command line.
type Settings struct {
	// Values maps each KEY (without the "initns." prefix) to its VALUE; a
	// word repeated keeps its last value, as the kernel does for its own
	// parameters. A bare "initns.KEY" has the value "1".
	Values map[string]string
	// Modules are the kernel modules named by initns.modules=a,b (repeated
	// words add up), to load besides those the hardware asks for.
	Modules []string
	// Shell is the terminal (such as "ttyS0") of initns.shell= on which the
	// daemon keeps a host shell, or "" for none.
	Shell string
	// Debug is initns.debug=1 (or true, yes, on): it enables the hidden
	// test-only request that panics inside a handler.
	Debug bool
	// ModuleParams are the MODULE.PARAM=VALUE words of the command line by
	// module name, as init_module(2) takes them ("p=v q=w"): the kernel
	// applies them to built-in code itself, and modprobe, which does not
	// run here, would pass them to a module it loads.
	ModuleParams map[string]string
}

// Get returns the value of initns.KEY, or "".
func (s Settings) Get(key string) string { return s.Values[key] }

// parseCmdline reads a kernel command line (the text of /proc/cmdline) and
// returns its initns.* settings. Words are split on white space, and double
// quotes group a value with spaces in it, as the kernel splits them.
func parseCmdline(r io.Reader) (Settings, error) {
	b, err := io.ReadAll(bufio.NewReader(r))
	if err != nil {
		return Settings{}, fmt.Errorf("read kernel command line: %w", err)
	}
	s := Settings{Values: map[string]string{}, ModuleParams: map[string]string{}}
	for _, w := range splitCmdline(string(b)) {
		key, val, ok := strings.Cut(w, "=")
		if !strings.HasPrefix(key, cmdlinePrefix) {
			s.addModuleParam(key, val, ok)
			continue
		}
		if len(key) == len(cmdlinePrefix) {
			continue
		}
		key = key[len(cmdlinePrefix):]
		if !ok {
			val = "1"
		}
		s.Values[key] = val
		if key == "modules" {
			s.Modules = append(s.Modules, splitList(val)...)
		}
	}
	s.Shell = s.Values["shell"]
	s.Debug = isTrue(s.Values["debug"])
	return s, nil
}

// addModuleParam records MODULE.PARAM[=VALUE], quoting a value with spaces
// again so the kernel's parser keeps it whole.
func (s *Settings) addModuleParam(key, val string, hasVal bool) {
	mod, param, ok := strings.Cut(key, ".")
	if !ok || mod == "" || param == "" {
		return
	}
	if hasVal {
		if strings.ContainsAny(val, " \t") {
			val = `"` + val + `"`
		}
		param += "=" + val
	}
	mod = moduleName(mod)
	if p := s.ModuleParams[mod]; p != "" {
		param = p + " " + param
	}
	s.ModuleParams[mod] = param
}

// splitCmdline splits the command line on white space outside double
// quotes, and drops the quotes.
func splitCmdline(line string) []string {
	var words []string
	var w strings.Builder
	quoted, inWord := false, false
	for _, c := range line {
		switch {
		case c == '"':
			quoted, inWord = !quoted, true
		case unicode.IsSpace(c) && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
			}
			inWord = false
		default:
			w.WriteRune(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "1", "y", "yes", "true", "on":
		return true
	}
	return false
}
