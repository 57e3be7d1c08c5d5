package menu

import (
	"fmt"
	"strings"
)

// Entry is one instance as the menu lists it.
type Entry struct {
	Name  string
	Image string
	Last  string   // its last boot, one line: when, how long, how it ended; "" if never booted
	Boots []string // its last boots, newest first, for the detail view
	// Failed is the reason it is marked failed (ended too soon too many
	// times in a row), or "".
	Failed string
}

// ActionKind is what the menu asks the daemon to do.
type ActionKind int

// The actions.
const (
	None  ActionKind = iota // keep showing the menu
	Boot                    // boot Action.Name
	Shell                   // open the host shell, then show the menu again
)

// Action is the outcome of a key or a tick.
type Action struct {
	Kind ActionKind
	Name string
	Auto bool // the countdown chose, not a person
}

// Menu is the boot menu's state: the entries, the selection, the
// countdown and the view. Its methods are its whole behaviour.
type Menu struct {
	Entries []Entry
	// Default is the index of the entry the countdown boots, -1 for none.
	Default int
	// Left is the countdown's seconds left; -1 when it does not run (no
	// default, none asked for, or a key stopped it).
	Left int
	// Note is shown above the list: the failure that brought the menu up.
	Note string
	// Sel is the selected entry; Detail shows its last boots instead of
	// the list.
	Sel    int
	Detail bool
}

// New returns the menu over entries, the default selected, counting down
// seconds to it (0 or less: no countdown). An entry marked failed is never
// counted down to: booting it again unasked would loop.
func New(entries []Entry, def string, seconds int, note string) *Menu {
	m := &Menu{Entries: entries, Default: -1, Left: -1, Note: note}
	for i, e := range entries {
		if e.Name == def && def != "" {
			m.Default, m.Sel = i, i
		}
	}
	if m.Default >= 0 && seconds > 0 && entries[m.Default].Failed == "" {
		m.Left = seconds
	}
	return m
}

// Tick is one second passing: the countdown's end boots the default.
func (m *Menu) Tick() Action {
	if m.Left < 0 {
		return Action{}
	}
	m.Left--
	if m.Left <= 0 {
		m.Left = -1
		return Action{Kind: Boot, Name: m.Entries[m.Default].Name, Auto: true}
	}
	return Action{}
}

// Press is one key. Any key stops the countdown: the person is there.
func (m *Menu) Press(k Key) Action {
	m.Left = -1
	if m.Detail {
		switch k {
		case KeyEnter:
			return m.boot()
		case KeyShell:
			return Action{Kind: Shell}
		case KeyBack, KeyInfo:
			m.Detail = false
		}
		return Action{}
	}
	switch k {
	case KeyUp:
		m.move(-1)
	case KeyDown:
		m.move(1)
	case KeyHome:
		m.Sel = 0
	case KeyEnd:
		m.Sel = max(len(m.Entries)-1, 0)
	case KeyEnter:
		return m.boot()
	case KeyShell:
		return Action{Kind: Shell}
	case KeyInfo:
		m.Detail = len(m.Entries) > 0
	}
	return Action{}
}

func (m *Menu) move(by int) {
	if n := len(m.Entries); n > 0 {
		m.Sel = (m.Sel + by + n) % n
	}
}

func (m *Menu) boot() Action {
	if len(m.Entries) == 0 {
		return Action{}
	}
	return Action{Kind: Boot, Name: m.Entries[m.Sel].Name}
}

// The screen's escape sequences: clear and home, reverse video, reset.
const (
	clearScreen = "\x1b[H\x1b[2J"
	reverse     = "\x1b[7m"
	normal      = "\x1b[0m"
)

// Render is the whole screen as a terminal takes it: clear, then lines
// ended by CR LF (a raw terminal does not add the CR). The selected entry
// is in reverse video and marked with '>', so it shows without colours
// too; no line is longer than width (at least 40).
func (m *Menu) Render(width int) string {
	width = max(width, 40)
	var b strings.Builder
	b.WriteString(clearScreen)
	line := func(s string) {
		if len(s) > width-1 {
			s = s[:width-1]
		}
		b.WriteString(s + "\r\n")
	}
	line("initns boot menu")
	line("")
	if m.Note != "" {
		for _, l := range wrap(m.Note, width-1) {
			line(l)
		}
		line("")
	}
	switch {
	case len(m.Entries) == 0:
		m.renderEmpty(line)
	case m.Detail:
		m.renderDetail(line)
	default:
		m.renderList(&b, line, width)
	}
	return b.String()
}

func (m *Menu) renderEmpty(line func(string)) {
	line("There is no instance to boot yet.")
	line("Press s for a host shell, then make one:")
	line("  initns pull images:debian/12 debian.tar.xz   (or copy an image")
	line("      into the state root's images/)")
	line("  initns new NAME debian.tar.xz")
	line("  initns default NAME            (booted at the next start)")
	line("  initns run NAME                (boots it now)")
}

func (m *Menu) renderList(b *strings.Builder, line func(string), width int) {
	for i, e := range m.Entries {
		mark, tag := "  ", ""
		if i == m.Default {
			tag = " (default)"
		}
		if e.Failed != "" {
			tag += " FAILED"
		}
		last := e.Last
		if last == "" {
			last = "never booted"
		}
		text := fmt.Sprintf("%-20s %-22s %s", e.Name+tag, e.Image, last)
		if i == m.Sel {
			mark = "> "
			b.WriteString(reverse)
			if len(mark+text) > width-1 {
				text = text[:width-1-len(mark)]
			}
			b.WriteString(mark + text + normal + "\r\n")
			continue
		}
		line(mark + text)
	}
	line("")
	if m.Left > 0 {
		line(fmt.Sprintf("Booting %s in %d s. Any key stops the countdown.", m.Entries[m.Default].Name, m.Left))
	}
	line("Up/Down: choose   Enter: boot   i: last boots   s: host shell")
}

func (m *Menu) renderDetail(line func(string)) {
	e := m.Entries[m.Sel]
	line("Last boots of " + e.Name + " (image " + e.Image + "), newest first:")
	if e.Failed != "" {
		line("  marked FAILED: " + e.Failed)
	}
	if len(e.Boots) == 0 {
		line("  never booted")
	}
	for _, l := range e.Boots {
		line("  " + l)
	}
	line("")
	line("Enter: boot " + e.Name + "   Esc or i: back   s: host shell")
}

// wrap breaks text into lines of at most width bytes, at spaces where it
// can.
func wrap(text string, width int) []string {
	var out []string
	for _, para := range strings.Split(text, "\n") {
		cur := ""
		for _, w := range strings.Fields(para) {
			switch {
			case cur == "":
				cur = w
			case len(cur)+1+len(w) <= width:
				cur += " " + w
			default:
				out = append(out, cur)
				cur = w
			}
		}
		out = append(out, cur)
	}
	return out
}
