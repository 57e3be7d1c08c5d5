package pid1

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// moduleName returns the kernel's name of a module file: the base name
// without ".ko" and any compression suffix, with "-" as "_" (the kernel and
// modules.alias spell names with underscores; files may have dashes).
func moduleName(file string) string {
	name := path.Base(file)
	if i := strings.Index(name, ".ko"); i >= 0 {
		name = name[:i]
	}
	return strings.ReplaceAll(name, "-", "_")
}

// alias is one "alias PATTERN MODULE" line of modules.alias.
type alias struct {
	pattern, module string
	prefix          string // the pattern's literal start: a cheap first test
}

// aliasTable is a parsed modules.alias.
type aliasTable []alias

// parseAliases reads modules.alias; comments and other lines are ignored.
func parseAliases(r io.Reader) (aliasTable, error) {
	var as aliasTable
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "alias" {
			continue
		}
		prefix := f[1]
		if i := strings.IndexAny(prefix, "*?["); i >= 0 {
			prefix = prefix[:i]
		}
		as = append(as, alias{pattern: f[1], module: moduleName(f[2]), prefix: prefix})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.alias: %w", err)
	}
	return as, nil
}

// Lookup returns the modules whose aliases match a device's modalias, in
// the order of the file, each once.
func (as aliasTable) Lookup(modalias string) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range as {
		if !strings.HasPrefix(modalias, a.prefix) || seen[a.module] {
			continue
		}
		if globMatch(a.pattern, modalias) {
			seen[a.module] = true
			out = append(out, a.module)
		}
	}
	return out
}

// modInfo is one line of modules.dep: a module's file (relative to the
// module directory) and the modules it needs.
type modInfo struct {
	Path string
	Deps []string // module names
}

// depTable is a parsed modules.dep, by module name.
type depTable map[string]modInfo

// parseDeps reads modules.dep ("path: dep-path dep-path ...").
func parseDeps(r io.Reader) (depTable, error) {
	d := depTable{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		file, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(file) == "" {
			continue
		}
		m := modInfo{Path: strings.TrimSpace(file)}
		for _, dep := range strings.Fields(deps) {
			m.Deps = append(m.Deps, moduleName(dep))
		}
		d[moduleName(m.Path)] = m
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	return d, nil
}

// Order returns the modules to load for names, each after every module it
// needs and each once. Names that modules.dep does not know are returned
// apart, in the order given.
func (d depTable) Order(names []string) (order, unknown []string) {
	state := map[string]int{} // 1: being visited, 2: done
	var visit func(name string)
	visit = func(name string) {
		m, ok := d[name]
		if !ok {
			if state[name] == 0 {
				unknown = append(unknown, name)
			}
			state[name] = 2
			return
		}
		if state[name] != 0 {
			return // done, or a cycle, which depmod refuses to write anyway
		}
		state[name] = 1
		// depmod lists a module's needs with the deepest last, and modprobe
		// loads them from the end: follow the same order.
		for i := len(m.Deps) - 1; i >= 0; i-- {
			visit(m.Deps[i])
		}
		state[name] = 2
		order = append(order, name)
	}
	for _, n := range names {
		visit(moduleName(n))
	}
	return order, unknown
}

// parseBuiltin reads modules.builtin (one module path a line) and returns
// the names of the modules built into the kernel.
func parseBuiltin(r io.Reader) (map[string]bool, error) {
	set := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			set[moduleName(line)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	return set, nil
}

// parseProcModules reads /proc/modules and returns the names loaded.
func parseProcModules(r io.Reader) (map[string]bool, error) {
	set := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 {
			set[f[0]] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /proc/modules: %w", err)
	}
	return set, nil
}
