package archive

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"initns/internal/archivetest"
)

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// extractFile runs Extract on a file and fails the test on error.
func extractFile(t testing.TB, image, dst string) Result {
	t.Helper()
	res, err := extractPath(image, dst)
	if err != nil {
		t.Fatalf("Extract %s: %v", image, err)
	}
	return res
}

func extractPath(image, dst string) (Result, error) {
	f, err := os.Open(image)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	return Extract(context.Background(), f, dst, nil)
}

// describe and diffLines are internal/archivetest's, under this
// package's names.
var (
	describe  = archivetest.Describe
	diffLines = archivetest.DiffLines
)

// sparseOK fails unless path occupies less disk than its size.
func sparseOK(t testing.TB, path string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 >= st.Size {
		t.Errorf("%s is not sparse: %d blocks of 512 for %d bytes", path, st.Blocks, st.Size)
	}
}
