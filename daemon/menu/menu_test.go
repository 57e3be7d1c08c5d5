package menu

import (
	"reflect"
	"strings"
	"testing"
)

func TestDecoder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		feeds []string
		flush bool
		want  []Key
	}{
		{"VT arrows and Enter", []string{"\x1b[A\x1b[B\r"}, false, []Key{KeyUp, KeyDown, KeyEnter}},
		{"application mode", []string{"\x1bOA\x1bOB\x1bOM"}, false, []Key{KeyUp, KeyDown, KeyEnter}},
		{"split over reads", []string{"\x1b", "[", "B", "\n"}, false, []Key{KeyDown, KeyEnter}},
		{"home and end", []string{"\x1b[1~\x1b[4~\x1b[H\x1b[F"}, false, []Key{KeyHome, KeyEnd, KeyHome, KeyEnd}},
		{"left and right", []string{"\x1b[C\x1b[D"}, false, []Key{KeyInfo, KeyBack}},
		{"lone Esc, flushed", []string{"\x1b"}, true, []Key{KeyBack}},
		{"Esc then a key", []string{"\x1bs"}, false, []Key{KeyBack, KeyShell}},
		{"Esc Esc arrow", []string{"\x1b\x1b[A"}, false, []Key{KeyBack, KeyUp}},
		{"letters", []string{"sijkqx\x7f"}, false, []Key{KeyShell, KeyInfo, KeyDown, KeyUp, KeyBack, KeyOther, KeyBack}},
		{"unknown sequence", []string{"\x1b[15~"}, false, []Key{KeyOther}},
		{"half a sequence, flushed", []string{"\x1b["}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			var got []Key
			for _, f := range tc.feeds {
				got = append(got, d.Feed([]byte(f))...)
			}
			if tc.flush {
				got = append(got, d.Flush()...)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("keys %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDecoderGarbage: an endless escape sequence is dropped at its bound;
// the decoder neither grows nor stops decoding.
func TestDecoderGarbage(t *testing.T) {
	var d Decoder
	d.Feed([]byte("\x1b[" + strings.Repeat("1;", 100000)))
	if len(d.seq) > maxSeq {
		t.Fatalf("decoder holds %d bytes of a sequence", len(d.seq))
	}
	if got := d.Feed([]byte("x\x1b[A")); got[len(got)-1] != KeyUp {
		t.Errorf("after garbage: %v, want it to end with KeyUp", got)
	}
}

func entries() []Entry {
	return []Entry{
		{Name: "alpha", Image: "a.tar.gz", Last: "2026-12-01 10:00, ran 2h0m0s: powered off"},
		{Name: "beta", Image: "b.tar.gz", Boots: []string{"2026-12-01 09:00 ended after 1s: exit status 1"}},
		{Name: "gamma", Image: "c.tar.gz"},
	}
}

// press feeds the menu a byte stream as a terminal would send it and
// returns the first action that is not None.
func press(m *Menu, bytes string) Action {
	var d Decoder
	for _, k := range append(d.Feed([]byte(bytes)), d.Flush()...) {
		if a := m.Press(k); a.Kind != None {
			return a
		}
	}
	return Action{}
}

func TestCountdownBootsTheDefault(t *testing.T) {
	m := New(entries(), "beta", 3, "")
	if m.Sel != 1 || m.Left != 3 {
		t.Fatalf("new menu: selected %d, %d s left; want the default (1) and 3", m.Sel, m.Left)
	}
	if !strings.Contains(m.Render(80), "Booting beta in 3 s") {
		t.Errorf("the countdown is not shown:\n%s", m.Render(80))
	}
	for i := range 2 {
		if a := m.Tick(); a.Kind != None {
			t.Fatalf("tick %d: %+v before the countdown ended", i+1, a)
		}
	}
	if a := m.Tick(); a != (Action{Kind: Boot, Name: "beta", Auto: true}) {
		t.Fatalf("third tick: %+v, want boot beta", a)
	}
}

func TestArrowsAndEnter(t *testing.T) {
	m := New(entries(), "beta", 5, "")
	if a := press(m, "\x1b[B"); a.Kind != None || m.Sel != 2 || m.Left != -1 {
		t.Fatalf("after Down: %+v, selected %d, countdown %d; want gamma selected, the countdown stopped", a, m.Sel, m.Left)
	}
	for range 10 {
		if a := m.Tick(); a.Kind != None {
			t.Fatalf("a tick after a key booted %+v", a)
		}
	}
	if a := press(m, "\x1b[B\r"); a != (Action{Kind: Boot, Name: "alpha"}) {
		t.Fatalf("Down past the end, Enter: %+v, want boot alpha (wrapped)", a)
	}
	if a := press(m, "\x1b[A\x1b[A\r"); a != (Action{Kind: Boot, Name: "beta"}) {
		t.Fatalf("Up twice from alpha, Enter: %+v, want boot beta", a)
	}
	scr := m.Render(80)
	if !strings.Contains(scr, "> beta") || strings.Contains(scr, "> alpha") {
		t.Errorf("the selection is not marked:\n%s", scr)
	}
}

func TestShellAndDetailKeys(t *testing.T) {
	m := New(entries(), "alpha", 5, "")
	if a := press(m, "s"); a.Kind != Shell {
		t.Fatalf("s: %+v, want the shell", a)
	}
	press(m, "\x1b[Bi")
	scr := m.Render(80)
	if !m.Detail || !strings.Contains(scr, "Last boots of beta") || !strings.Contains(scr, "exit status 1") {
		t.Fatalf("i on beta does not show its last boots:\n%s", scr)
	}
	press(m, "\x1b")
	if m.Detail {
		t.Fatal("Esc did not go back to the list")
	}
	press(m, "i")
	if a := press(m, "\r"); a != (Action{Kind: Boot, Name: "beta"}) {
		t.Fatalf("Enter in the detail view: %+v, want boot beta", a)
	}
}

// TestFailedDefaultIsNotCountedDown: the default marked failed gets no
// countdown (booting it unasked would loop), and the note names the
// failure; Enter still boots what the person chooses.
func TestFailedDefaultIsNotCountedDown(t *testing.T) {
	es := entries()
	es[1].Failed = "ended 3 times within 30s of its boot; the last: exit status 1"
	m := New(es, "beta", 5, "beta failed: ended 3 times within 30s of its boot")
	for range 10 {
		if a := m.Tick(); a.Kind != None {
			t.Fatalf("the failed default was booted by the countdown: %+v", a)
		}
	}
	scr := m.Render(80)
	for _, want := range []string{"beta failed: ended 3 times", "beta (default) FAILED"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the screen does not say %q:\n%s", want, scr)
		}
	}
	if a := press(m, "\r"); a != (Action{Kind: Boot, Name: "beta"}) {
		t.Errorf("Enter on the failed default: %+v, want boot beta (the person asked)", a)
	}
}

func TestNoInstance(t *testing.T) {
	m := New(nil, "", 5, "")
	for _, k := range "\r\x1b[Bi" {
		if a := press(m, string(k)); a.Kind != None {
			t.Fatalf("key %q with no instance: %+v", k, a)
		}
	}
	if m.Tick().Kind != None {
		t.Fatal("a tick with no instance booted something")
	}
	scr := m.Render(80)
	for _, want := range []string{"no instance", "host shell", "initns new", "initns pull"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the empty menu does not say %q:\n%s", want, scr)
		}
	}
	if a := press(m, "s"); a.Kind != Shell {
		t.Errorf("s with no instance: %+v, want the shell", a)
	}
}

// TestRenderWidth: no line of the screen is wider than the terminal.
func TestRenderWidth(t *testing.T) {
	es := entries()
	es[0].Name = strings.Repeat("n", 64)
	es[0].Last = strings.Repeat("l", 300)
	m := New(es, es[0].Name, 5, strings.Repeat("note ", 40))
	for _, w := range []int{40, 80, 132} {
		for _, l := range strings.Split(m.Render(w), "\r\n") {
			plain := strings.NewReplacer(reverse, "", normal, "", clearScreen, "").Replace(l)
			if len(plain) >= w {
				t.Errorf("width %d: line of %d: %q", w, len(plain), plain)
			}
		}
	}
}
