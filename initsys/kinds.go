package initsys

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Kind names an init system, as `ls` shows it and the registry stores it.
type Kind string

// The init systems Debian ships, and "" for one initns does not know.
const (
	Unknown    Kind = ""
	Systemd    Kind = "systemd"
	SysVinit   Kind = "sysvinit"
	OpenRCInit Kind = "openrc-init"
	Runit      Kind = "runit"
	Busybox    Kind = "busybox"
)

// Action is what an init is asked to do.
type Action int

// The three ways a system goes down.
const (
	Poweroff Action = iota
	Reboot
	Halt
)

func (a Action) String() string {
	return [...]string{"poweroff", "reboot", "halt"}[a]
}

// Request is one way of asking an init for an action: a signal, or a
// runlevel change through /run/initctl, or runit's stopit protocol.
type Request struct {
	Signal   syscall.Signal // sent to the init (Runit: after the files are set)
	Runlevel byte           // sysvinit: '0' or '6' through /run/initctl
	Runit    bool           // runit: make /etc/runit/stopit executable first
	Reboot   bool           // runit: and /etc/runit/reboot too
	// Container: systemd is told first that it runs in a container
	// (Ask), so that its last step leaves the machine's devices alone.
	Container bool
}

func (r Request) String() string {
	switch {
	case r.Runlevel != 0:
		return "initctl runlevel " + string(r.Runlevel)
	case r.Runit && r.Reboot:
		return "stopit+reboot+" + SignalName(r.Signal)
	case r.Runit:
		return "stopit+" + SignalName(r.Signal)
	}
	return SignalName(r.Signal)
}

// sigRTMin is SIGRTMIN as programs see it: the C library keeps the
// kernel's first two real-time signals, so systemd's SIGRTMIN+4 is 38.
const sigRTMin = 34

// languages is each init's shutdown language, from its own sources:
// systemd's signal(7) table, sysvinit's initctl protocol (what telinit 0
// and telinit 6 send), busybox init's signal handlers, runit(8), and
// openrc-init's handlers (SIGINT reboots; SIGTERM and SIGPWR halt, which a
// PID namespace's init cannot tell from a poweroff).
var languages = map[Kind][3]Request{
	Systemd:    {{Signal: sigRTMin + 4, Container: true}, {Signal: sigRTMin + 5, Container: true}, {Signal: sigRTMin + 3, Container: true}},
	SysVinit:   {{Runlevel: '0'}, {Runlevel: '6'}, {Runlevel: '0'}},
	Busybox:    {{Signal: syscall.SIGUSR2}, {Signal: syscall.SIGTERM}, {Signal: syscall.SIGUSR1}},
	Runit:      {{Runit: true, Signal: syscall.SIGCONT}, {Runit: true, Reboot: true, Signal: syscall.SIGCONT}, {Runit: true, Signal: syscall.SIGCONT}},
	OpenRCInit: {{Signal: syscall.SIGTERM}, {Signal: syscall.SIGINT}, {Signal: syscall.SIGTERM}},
}

// Kinds lists the known init systems, sorted.
func Kinds() []Kind {
	var ks []Kind
	for k := range languages {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}

// ParseKind accepts a known init's name.
func ParseKind(s string) (Kind, error) {
	if _, ok := languages[Kind(s)]; ok {
		return Kind(s), nil
	}
	var names []string
	for _, k := range Kinds() {
		names = append(names, string(k))
	}
	return "", fmt.Errorf("unknown init %q: one of %s, or auto", s, strings.Join(names, ", "))
}

// Plan says how to ask an instance's init for an action. haltSignal, if
// not 0, is a signal the user set for the instance: it asks for every
// action. An unknown init gets fallback, the daemon's --halt-signal.
func Plan(k Kind, haltSignal, fallback syscall.Signal, a Action) Request {
	if haltSignal != 0 {
		return Request{Signal: haltSignal}
	}
	if l, ok := languages[k]; ok {
		return l[a]
	}
	return Request{Signal: fallback}
}

// ParseSignal reads a signal as a number (38), a name (SIGUSR2, USR2) or a
// real-time offset (SIGRTMIN+4, RTMIN+4, counted from 34 as the C library
// does).
func ParseSignal(s string) (syscall.Signal, error) {
	u := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
	n, err := strconv.Atoi(u)
	switch {
	case err == nil:
	case strings.HasPrefix(u, "RTMIN+"):
		n, err = strconv.Atoi(u[len("RTMIN+"):])
		n += sigRTMin
	case u == "RTMIN":
		n = sigRTMin
	default:
		n, err = 0, fmt.Errorf("no such signal")
		for sig, name := range signalNames {
			if name == u {
				n, err = int(sig), nil
			}
		}
	}
	if err != nil || n < 1 || n > 64 {
		return 0, fmt.Errorf("signal %q: give a number (1-64), a name such as SIGUSR2, or SIGRTMIN+N", s)
	}
	return syscall.Signal(n), nil
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "HUP", syscall.SIGINT: "INT", syscall.SIGQUIT: "QUIT", syscall.SIGKILL: "KILL",
	syscall.SIGUSR1: "USR1", syscall.SIGUSR2: "USR2", syscall.SIGTERM: "TERM", syscall.SIGCONT: "CONT",
	syscall.SIGPWR: "PWR", syscall.SIGALRM: "ALRM", syscall.SIGABRT: "ABRT",
}

// SignalName names a signal as init documentation does: SIGUSR2,
// SIGRTMIN+4.
func SignalName(sig syscall.Signal) string {
	if n, ok := signalNames[sig]; ok {
		return "SIG" + n
	}
	if sig >= sigRTMin && sig <= 64 {
		return fmt.Sprintf("SIGRTMIN+%d", int(sig)-sigRTMin)
	}
	return strconv.Itoa(int(sig))
}
