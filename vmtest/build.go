package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Artifacts are the files a test guest is built from.
type Artifacts struct {
	Binary  string // the project's static binary
	Sockcat string // the compatibility-mode socket tool
	Ptyrun  string // runs a command on a pty of its own (vmtest/ptyrun); in the distro initramfs
	Image   string // the busybox test image (a .tar.gz)
	// TestinitImage is an image whose /sbin/init is testdata/testinit,
	// which reports what it sees as PID 1 to /report.json.
	TestinitImage string
	Initramfs     string // the initramfs holding all of the above
}

// RepoRoot returns the directory of the module's go.mod, searching up from
// the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Build builds the static binary, the socket tool, the test image and the
// initramfs into dir, with the scripts of testdata/vm. Without withBinary the
// initramfs's /init is a busybox script that only keeps a shell on ttyS0: the
// harness's self-test, which needs nothing of the daemon.
func Build(dir string, withBinary bool) (*Artifacts, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	a := &Artifacts{
		Binary:        filepath.Join(dir, "initns.bin"),
		Sockcat:       filepath.Join(dir, "sockcat"),
		Ptyrun:        filepath.Join(dir, "ptyrun"),
		Image:         filepath.Join(dir, "busybox.tar.gz"),
		TestinitImage: filepath.Join(dir, "testinit.tar.gz"),
		Initramfs:     filepath.Join(dir, "initramfs.cpio.zst"),
	}
	testinit := filepath.Join(dir, "testinit")
	mk := []string{"sh", "testdata/vm/mkinitramfs.sh", "-o", a.Initramfs,
		"-s", a.Sockcat, "-i", a.Image, "-i", a.TestinitImage, "-k", Kernel(),
		"-m", "testdata/vm/modprobe-test.conf"}
	steps := [][]string{
		{"go", "build", "-trimpath", "-o", a.Sockcat, "./vmtest/sockcat"},
		{"go", "build", "-trimpath", "-o", a.Ptyrun, "./vmtest/ptyrun"},
		{"go", "build", "-trimpath", "-o", testinit, "./testdata/testinit"},
		{"sh", "testdata/vm/mkimage.sh", a.Image},
		{"sh", "testdata/vm/mkimage.sh", a.TestinitImage, testinit},
	}
	if withBinary {
		steps = append(steps, buildBinary(a.Binary))
		mk = append(mk, "-b", a.Binary)
	} else {
		a.Binary = ""
	}
	steps = append(steps, mk)
	for _, s := range steps {
		if err := run(root, s); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// BuildBinary builds initns into out, as the Makefile does.
func BuildBinary(out string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	return run(root, buildBinary(out))
}

// buildBinary is the command that builds initns as the Makefile does: the
// guests time commands typed at their shell, and the man-page generator
// the tag leaves out and the symbols cost the client a third more time to
// start (a sixth of a switch's answer under emulation).
func buildBinary(out string) []string {
	return []string{"go", "build", "-trimpath", "-tags", "urfave_cli_no_docs", "-ldflags", "-s -w", "-o", out, "."}
}

func run(dir string, argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %w\n%s", argv, err, out)
	}
	return nil
}
