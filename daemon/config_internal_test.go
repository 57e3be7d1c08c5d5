package daemon

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestSwitchSettings: the settings of switch come from the daemon's flags
// and from the kernel command line (initns.NAME=), and a bad value on the
// kernel command line is logged, never fatal, the flags' values kept.
func TestSwitchSettings(t *testing.T) {
	c, _, err := parseFlags([]string{"--resident-max", "3", "--memory-free", "7"}, io.Discard)
	if err != nil || c.ResidentMax != 3 || c.Memory.Free != 7 || !c.Memory.On || c.Memory.Pressure != 10 ||
		c.SwitchKeys != "ctrl+alt+pagedown,ctrl+alt+pageup" {
		t.Fatalf("flags: %+v %v", c, err)
	}
	for _, bad := range [][]string{{"--resident-max", "-1"}, {"--memory-pressure", "0"}, {"--memory-free", "101"}} {
		if _, _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%v): no error", bad)
		}
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	c.applySwitch(map[string]string{"resident-max": "2", "switch-keys": "ctrl+alt+n,ctrl+alt+p", "memory-policy": "false", "root": "/x"}, log)
	if c.ResidentMax != 2 || c.SwitchKeys != "ctrl+alt+n,ctrl+alt+p" || c.Memory.On || c.Memory.Free != 7 {
		t.Fatalf("from the kernel command line: %+v", c)
	}
	c.applySwitch(map[string]string{"resident-max": "many", "memory-pressure": "500"}, log)
	if c.ResidentMax != 2 || c.Memory.Pressure != 10 {
		t.Fatalf("bad kernel command-line values changed the settings: %+v", c)
	}
	if !strings.Contains(logs.String(), "initns.resident-max") || !strings.Contains(logs.String(), "--memory-pressure 500") {
		t.Errorf("bad values not logged:\n%s", logs.String())
	}
}
