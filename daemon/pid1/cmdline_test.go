package pid1

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	line := `BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet splash 3 ` +
		`initns.shell=ttyS0 initns.modules=evdev,,e1000 initns.modules=tun ` +
		`initns.debug=1 initns.note="two words" initns.flag initns.=x notinitns.a=b` + "\n"
	s, err := parseCmdline(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"shell": "ttyS0", "modules": "tun", "debug": "1", "note": "two words", "flag": "1",
	}
	if !reflect.DeepEqual(s.Values, want) {
		t.Errorf("Values = %v, want %v", s.Values, want)
	}
	if !reflect.DeepEqual(s.Modules, []string{"evdev", "e1000", "tun"}) {
		t.Errorf("Modules = %q, want evdev e1000 tun (repeated words add up, empty items dropped)", s.Modules)
	}
	if s.Shell != "ttyS0" || !s.Debug || s.Get("note") != "two words" || s.Get("missing") != "" {
		t.Errorf("Shell %q Debug %v note %q", s.Shell, s.Debug, s.Get("note"))
	}
	if want := map[string]string{"notinitns": "a=b"}; !reflect.DeepEqual(s.ModuleParams, want) {
		t.Errorf("ModuleParams = %v, want %v", s.ModuleParams, want)
	}
}

func TestParseCmdlineModuleParams(t *testing.T) {
	s, err := parseCmdline(strings.NewReader(`dummy.numdummies=2 snd-hda-intel.model="a b" ` +
		`psmouse.proto=bare dummy.flag .x=1 nodot=1 e1000.=3 initns.modules=dummy`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"dummy":         "numdummies=2 flag",
		"snd_hda_intel": `model="a b"`,
		"psmouse":       "proto=bare",
	}
	if !reflect.DeepEqual(s.ModuleParams, want) {
		t.Errorf("ModuleParams = %v, want %v", s.ModuleParams, want)
	}
}

func TestParseCmdlineDefaults(t *testing.T) {
	s, err := parseCmdline(strings.NewReader("console=ttyS0 initns.debug=0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Debug || s.Shell != "" || len(s.Modules) != 0 {
		t.Errorf("got %+v, want no shell, no debug, no modules", s)
	}
	for _, v := range []string{"1", "yes", "true", "on", "Y"} {
		s, _ := parseCmdline(strings.NewReader("initns.debug=" + v))
		if !s.Debug {
			t.Errorf("initns.debug=%s: Debug false", v)
		}
	}
}

func TestSplitCmdline(t *testing.T) {
	got := splitCmdline(` a  "b c"=d e="f g" h"i j"k` + "\t\n")
	want := []string{"a", "b c=d", "e=f g", "hi jk"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
