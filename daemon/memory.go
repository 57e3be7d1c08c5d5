package daemon

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The memory policy of resident instances (SPEC §4 `switch`, written down
// in README "Switching"): resident instances may not starve the one in
// front. When memory is short, the least recently used resident instance
// is stopped gracefully, one per check; the one in front never is.

// memoryPolicy says when memory is short.
type memoryPolicy struct {
	On       bool
	Pressure float64 // PSI "some" avg10 (% of time stalled on memory) at or above which memory is short
	Free     float64 // MemAvailable below this % of MemTotal is short
}

// memorySample is one reading of the kernel's memory state.
type memorySample struct {
	SomeAvg10        float64 // /proc/pressure/memory, "some" line; -1 when unknown
	Triggered        bool    // a PSI trigger fired since the last sample
	Available, Total int64   // /proc/meminfo, kB; Total 0 when unknown
}

// short tells whether memory is short under p, and why, for the log.
func (p memoryPolicy) short(s memorySample) (bool, string) {
	switch {
	case !p.On:
		return false, ""
	case s.Triggered || (s.SomeAvg10 >= 0 && s.SomeAvg10 >= p.Pressure):
		return true, fmt.Sprintf("memory pressure: tasks stalled on memory %.2f%% of the last 10 s (threshold %.2f%%)", s.SomeAvg10, p.Pressure)
	case s.Total > 0 && float64(s.Available)*100 < p.Free*float64(s.Total):
		return true, fmt.Sprintf("free memory: %d MiB available of %d MiB (threshold %.2f%%)", s.Available>>10, s.Total>>10, p.Free)
	}
	return false, ""
}

// parsePSI returns the "some" avg10 of a /proc/pressure file.
func parsePSI(r io.Reader) (float64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "some" {
			continue
		}
		for _, kv := range f[1:] {
			if v, ok := strings.CutPrefix(kv, "avg10="); ok {
				return strconv.ParseFloat(v, 64)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no some avg10 in the pressure file")
}

// parseMeminfo returns MemAvailable and MemTotal (kB) of /proc/meminfo.
func parseMeminfo(r io.Reader) (avail, total int64, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "MemAvailable:":
			avail, err = strconv.ParseInt(f[1], 10, 64)
		case "MemTotal:":
			total, err = strconv.ParseInt(f[1], 10, 64)
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if total == 0 {
		return 0, 0, fmt.Errorf("no MemTotal in meminfo")
	}
	return avail, total, sc.Err()
}
