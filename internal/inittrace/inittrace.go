// Package inittrace reads what a Go binary prints about its package
// initialisation under GODEBUG=inittrace=1, for the benchmarks that watch
// the client's start (daemon's BenchmarkClient on this host, vmtest's
// BenchmarkSwitchVM under emulation): a new dependency's eager work shows
// there first.
package inittrace

import (
	"bufio"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Summary is the package initialisation of one start, averaged over
// several: milliseconds per package.
type Summary map[string]float64

// Read adds up the lines "init PKG @T ms, C ms clock, N bytes, A allocs"
// of trace, the output of starts starts, per start.
func Read(trace string, starts int) (Summary, error) {
	s := Summary{}
	sc := bufio.NewScanner(strings.NewReader(trace))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[0] != "init" {
			continue
		}
		ms, err := strconv.ParseFloat(f[4], 64)
		if err != nil {
			return nil, fmt.Errorf("inittrace line %q: %w", sc.Text(), err)
		}
		s[f[1]] += ms / float64(starts)
	}
	return s, sc.Err()
}

// String is the total, the number of packages and the six costliest.
func (s Summary) String() string {
	pkgs := slices.Collect(maps.Keys(s))
	slices.SortFunc(pkgs, func(x, y string) int { return cmp.Compare(s[y], s[x]) })
	total := 0.0
	for _, ms := range s {
		total += ms
	}
	var top []string
	for _, p := range pkgs[:min(6, len(pkgs))] {
		top = append(top, fmt.Sprintf("%s %.2f", p, s[p]))
	}
	return fmt.Sprintf("%.2f ms over %d packages; most (ms): %s", total, len(pkgs), strings.Join(top, ", "))
}
