package pid1

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestModprobeConf(t *testing.T) {
	c := newModprobeConf()
	err := c.Parse(strings.NewReader(`# comment
blacklist pcspkr
blacklist snd-pcsp
options psmouse proto=bare
options psmouse rate=40 \
	resolution=100
softdep uhci-hcd pre: ehci-hcd xhci_hcd post: other
install foo /bin/true
options lonely
`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Blacklist["pcspkr"] || !c.Blacklist["snd_pcsp"] || len(c.Blacklist) != 2 {
		t.Errorf("Blacklist = %v", c.Blacklist)
	}
	if want := map[string]string{"psmouse": "proto=bare rate=40 resolution=100"}; !reflect.DeepEqual(c.Options, want) {
		t.Errorf("Options = %q, want %q", c.Options, want)
	}
	if want := map[string][]string{"uhci_hcd": {"ehci_hcd", "xhci_hcd"}}; !reflect.DeepEqual(c.Pre, want) {
		t.Errorf("Pre = %q, want %q", c.Pre, want)
	}
	s, _ := parseCmdline(strings.NewReader("psmouse.proto=imps modprobe.blacklist=floppy,evbug dummy.numdummies=2"))
	c.AddCmdline(s)
	if c.Options["psmouse"] != "proto=bare rate=40 resolution=100 proto=imps" || c.Options["dummy"] != "numdummies=2" {
		t.Errorf("after the command line, Options = %q (its parameters must come last, to win)", c.Options)
	}
	if !c.Blacklist["floppy"] || !c.Blacklist["evbug"] || c.Options["modprobe"] != "" {
		t.Errorf("modprobe.blacklist= not applied: %v %q", c.Blacklist, c.Options)
	}
}

// TestModprobeConfReal parses this machine's modprobe.d files: Debian
// blacklists the framebuffer drivers that fight its DRM drivers.
func TestModprobeConfReal(t *testing.T) {
	files, _ := filepath.Glob("/lib/modprobe.d/*.conf")
	if len(files) == 0 {
		t.Fatal("no /lib/modprobe.d/*.conf (Debian's kmod installs them)")
	}
	c := newModprobeConf()
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Parse(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if !c.Blacklist["cirrusfb"] {
		t.Errorf("cirrusfb is not blacklisted by %q", files)
	}
}
