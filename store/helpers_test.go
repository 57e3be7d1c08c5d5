package store

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"initns/archive"
	"initns/internal/archivetest"
)

// gnuTarFlags are the flags SPEC §5 says extraction is faithful to.
var gnuTarFlags = []string{"--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls"}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// gnuCreate archives dir's content with GNU tar into image (compression by
// suffix, as tar -a does).
func gnuCreate(t testing.TB, dir, image string, extra ...string) {
	t.Helper()
	args := append([]string{"--format=posix", "-C", dir}, gnuTarFlags...)
	args = append(args, extra...)
	args = append(args, "-caf", image, ".")
	run(t, "tar", args...)
}

func gnuExtract(t testing.TB, image, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-C", dir}, gnuTarFlags...)
	run(t, "tar", append(args, "-xf", image)...)
}

// extractFile runs Extract on a file and fails the test on error.
func extractFile(t testing.TB, image, dst string) archive.Result {
	t.Helper()
	res, err := extractPath(image, dst)
	if err != nil {
		t.Fatalf("Extract %s: %v", image, err)
	}
	return res
}

func extractPath(image, dst string) (archive.Result, error) {
	f, err := os.Open(image)
	if err != nil {
		return archive.Result{}, err
	}
	defer f.Close()
	return archive.Extract(context.Background(), f, dst, nil)
}

// describe and diffLines are internal/archivetest's, under this
// package's names.
var (
	describe  = archivetest.Describe
	diffLines = archivetest.DiffLines
)
