package pid1

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// moduleDir returns a module directory of this machine (Debian's
// linux-image-amd64 installs one).
func moduleDir(t *testing.T) string {
	t.Helper()
	deps, _ := filepath.Glob("/lib/modules/*/modules.dep")
	if len(deps) == 0 {
		t.Fatal("no /lib/modules/*/modules.dep: apt-get install linux-image-amd64")
	}
	return filepath.Dir(deps[len(deps)-1])
}

func parseReal[T any](t *testing.T, name string, parse func(r *os.File) (T, error)) T {
	t.Helper()
	f, err := os.Open(filepath.Join(moduleDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/input/evdev.ko":                  "evdev",
		"kernel/drivers/i2c/busses/i2c-piix4.ko.zst":     "i2c_piix4",
		"kernel/drivers/char/hw_random/virtio-rng.ko.xz": "virtio_rng",
		"snd-hda-intel": "snd_hda_intel",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAliasesReal matches modaliases of devices QEMU's pc machine has
// against the real modules.alias.
func TestAliasesReal(t *testing.T) {
	as := parseReal(t, "modules.alias", func(f *os.File) (aliasTable, error) { return parseAliases(f) })
	if len(as) < 1000 {
		t.Fatalf("only %d aliases parsed", len(as))
	}
	cases := map[string]string{
		// QEMU's e1000 network card.
		"pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00": "e1000",
		// The PIIX4 power-management function.
		"pci:v00008086d00007113sv00001AF4sd00001100bc06sc80i00": "i2c_piix4",
		// QEMU's PS/2 keyboard as an input device: evdev takes every one.
		"input:b0011v0001p0001eAB41-e0,1,4,11,14,k71,72,73,74,75,ramlsfw": "evdev",
		"platform:pcspkr": "pcspkr",
	}
	for modalias, want := range cases {
		if got := as.Lookup(modalias); !slices.Contains(got, want) {
			t.Errorf("Lookup(%q) = %q, want it to contain %q", modalias, got, want)
		}
	}
	if got := as.Lookup("nothing:matches-this"); len(got) != 0 {
		t.Errorf("Lookup(nothing) = %q", got)
	}
}

func TestParseAliasesSkipsOtherLines(t *testing.T) {
	as, err := parseAliases(strings.NewReader("# comment\nalias pci:v1* a-b\nsoftdep x pre: y\nalias input:* evdev\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := as.Lookup("pci:v1234"); !reflect.DeepEqual(got, []string{"a_b"}) {
		t.Errorf("got %q, want [a_b]", got)
	}
}

// TestOrderReal checks the load order of every module of the real
// modules.dep: each after all it needs, each once.
func TestOrderReal(t *testing.T) {
	deps := parseReal(t, "modules.dep", func(f *os.File) (depTable, error) { return parseDeps(f) })
	if len(deps) < 1000 {
		t.Fatalf("only %d modules parsed", len(deps))
	}
	order, unknown := deps.Order([]string{"ata_piix"})
	if want := []string{"scsi_common", "scsi_mod", "libata", "ata_piix"}; !reflect.DeepEqual(order, want) || len(unknown) != 0 {
		t.Errorf("ata_piix: order %q unknown %q, want %q", order, unknown, want)
	}
	for name := range deps {
		order, unknown := deps.Order([]string{name, name})
		if len(unknown) != 0 {
			t.Errorf("%s: unknown dependencies %q", name, unknown)
		}
		pos := map[string]int{}
		for i, n := range order {
			if _, dup := pos[n]; dup {
				t.Fatalf("%s: %s twice in %q", name, n, order)
			}
			pos[n] = i
		}
		if order[len(order)-1] != name {
			t.Fatalf("%s: not last in %q", name, order)
		}
		for _, n := range order {
			for _, d := range deps[n].Deps {
				if pos[d] > pos[n] {
					t.Fatalf("%s: %s loads before its dependency %s: %q", name, n, d, order)
				}
			}
		}
	}
}

func TestOrderUnknown(t *testing.T) {
	deps, _ := parseDeps(strings.NewReader("a.ko: b.ko\nb.ko: gone.ko\n"))
	order, unknown := deps.Order([]string{"a", "nosuch", "a"})
	if !reflect.DeepEqual(order, []string{"b", "a"}) || !reflect.DeepEqual(unknown, []string{"gone", "nosuch"}) {
		t.Errorf("order %q unknown %q", order, unknown)
	}
}

func TestParseBuiltinReal(t *testing.T) {
	b := parseReal(t, "modules.builtin", func(f *os.File) (map[string]bool, error) { return parseBuiltin(f) })
	// Debian builds the PS/2 keyboard path into the kernel, evdev as a module.
	if !b["atkbd"] || !b["i8042"] || b["evdev"] {
		t.Errorf("builtin atkbd %v i8042 %v evdev %v, want true true false", b["atkbd"], b["i8042"], b["evdev"])
	}
}

func TestParseProcModules(t *testing.T) {
	m, err := parseProcModules(strings.NewReader("evdev 28672 2 - Live 0x0\nserio_raw 20480 0 - Live 0x0\n"))
	if err != nil || !m["evdev"] || !m["serio_raw"] || len(m) != 2 {
		t.Errorf("got %v %v", m, err)
	}
}

// TestDecompress compresses a real module as the kernel's build does (xz
// with crc32, zstd) and checks that the image comes back byte for byte.
func TestDecompress(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(moduleDir(t), "kernel/drivers/input/evdev.ko"))
	if err != nil {
		t.Fatal(err)
	}
	var xzb, zstb bytes.Buffer
	xw, err := xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(&xzb)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(raw)
	xw.Close()
	zw, _ := zstd.NewWriter(&zstb)
	zw.Write(raw)
	zw.Close()
	for name, data := range map[string][]byte{"evdev.ko": raw, "evdev.ko.xz": xzb.Bytes(), "evdev.ko.zst": zstb.Bytes()} {
		got, err := decompress(name, bytes.NewReader(data))
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("%s: %d bytes, err %v; want the %d bytes of evdev.ko", name, len(got), err, len(raw))
		}
	}
	if _, err := decompress("evdev.ko.gz", bytes.NewReader(raw)); err == nil {
		t.Error("evdev.ko.gz: no error for an unknown compression")
	}
	if _, err := decompress("evdev.ko.xz", bytes.NewReader(raw[:100])); err == nil {
		t.Error("corrupt xz: no error")
	}
}
