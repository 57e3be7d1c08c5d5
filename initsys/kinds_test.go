package initsys

import (
	"encoding/binary"
	"syscall"
	"testing"
)

func TestPlan(t *testing.T) {
	cases := []struct {
		kind   Kind
		set    syscall.Signal
		action Action
		want   string
	}{
		{Systemd, 0, Poweroff, "SIGRTMIN+4"},
		{Systemd, 0, Reboot, "SIGRTMIN+5"},
		{Systemd, 0, Halt, "SIGRTMIN+3"},
		{SysVinit, 0, Poweroff, "initctl runlevel 0"},
		{SysVinit, 0, Reboot, "initctl runlevel 6"},
		{Busybox, 0, Poweroff, "SIGUSR2"},
		{Busybox, 0, Reboot, "SIGTERM"},
		{Busybox, 0, Halt, "SIGUSR1"},
		{Runit, 0, Poweroff, "stopit+SIGCONT"},
		{Runit, 0, Reboot, "stopit+reboot+SIGCONT"},
		{OpenRCInit, 0, Poweroff, "SIGTERM"},
		{OpenRCInit, 0, Reboot, "SIGINT"},
		{Unknown, 0, Poweroff, "SIGRTMIN+4"},           // the daemon's fallback
		{SysVinit, syscall.SIGPWR, Poweroff, "SIGPWR"}, // set by the user: wins
		{Busybox, syscall.SIGUSR1, Reboot, "SIGUSR1"},
	}
	for _, c := range cases {
		if got := Plan(c.kind, c.set, sigRTMin+4, c.action).String(); got != c.want {
			t.Errorf("Plan(%q, set %d, %v) = %s, want %s", c.kind, c.set, c.action, got, c.want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	good := map[string]syscall.Signal{
		"38": 38, "SIGRTMIN+4": 38, "rtmin+5": 39, "SIGUSR2": syscall.SIGUSR2, "usr1": syscall.SIGUSR1,
		"TERM": syscall.SIGTERM, "SIGPWR": syscall.SIGPWR, "64": 64,
	}
	for in, want := range good {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65", "-1", "SIGFOO", "RTMIN+40", "RTMIN+x"} {
		if got, err := ParseSignal(in); err == nil {
			t.Errorf("ParseSignal(%q) = %d, want an error", in, got)
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGUSR2, 38, 39, syscall.SIGPWR} {
		if back, err := ParseSignal(SignalName(sig)); err != nil || back != sig {
			t.Errorf("ParseSignal(SignalName(%d)) = %d, %v", sig, back, err)
		}
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range Kinds() {
		if got, err := ParseKind(string(k)); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	if _, err := ParseKind("upstart"); err == nil {
		t.Error("ParseKind(upstart) accepted an init initns cannot speak to")
	}
}

// TestInitctlRequest checks the layout of initreq.h's struct init_request:
// what sysvinit's init reads is 384 bytes, magic first.
func TestInitctlRequest(t *testing.T) {
	b := InitctlRequest('6')
	if len(b) != 384 {
		t.Fatalf("request of %d bytes, want 384", len(b))
	}
	got := [4]uint32{}
	for i := range got {
		got[i] = binary.NativeEndian.Uint32(b[4*i:])
	}
	if got != [4]uint32{0x03091969, 1, '6', 3} {
		t.Errorf("header %#x, want magic, INIT_CMD_RUNLVL, '6', 3", got)
	}
	for i, c := range b[16:] {
		if c != 0 {
			t.Fatalf("byte %d of the union is %#x, want 0", 16+i, c)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		target, contents string
		want             Kind
	}{
		{"/usr/lib/systemd/systemd", "", Systemd},
		{"/usr/lib/runit/runit-init", "", Runit},
		{"/usr/bin/busybox", "", Busybox},
		{"/usr/sbin/openrc-init", "", OpenRCInit},
		{"/usr/sbin/init", "\x7fELF...INIT_VERSION=sysvinit-3.06...", SysVinit},
		{"/sbin/init", "\x7fELF...BusyBox v1.35.0...", Busybox},
		{"/sbin/init", "\x7fELF..systemd.show_status..", Systemd},
		{"/sbin/init", "#!/bin/sh\nexec sleep inf\n", Unknown},
	}
	for _, c := range cases {
		if got := Classify(c.target, []byte(c.contents)); got != c.want {
			t.Errorf("Classify(%q, %q) = %q, want %q", c.target, c.contents, got, c.want)
		}
	}
}
