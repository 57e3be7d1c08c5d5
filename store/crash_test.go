package store

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash test re-executes the test binary as a child that runs one
// operation in a loop; the parent kills it with SIGKILL at a random moment,
// reopens the store and checks that every operation was done fully or not
// at all (issue 6).
func TestMain(m *testing.M) {
	if op := os.Getenv("STORE_CRASH_OP"); op != "" {
		os.Exit(crashChild(op, os.Getenv("STORE_CRASH_ROOT"), os.Getenv("STORE_CRASH_SRC")))
	}
	if img := os.Getenv("STORE_RSS_IMAGE"); img != "" {
		os.Exit(rssChild(img, os.Getenv("STORE_RSS_DST")))
	}
	os.Exit(m.Run())
}

func crashChild(op, root, src string) int {
	s, err := Open(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	ctx := context.Background()
	for i := 0; ; i++ {
		name := fmt.Sprintf("x%d", i)
		switch op {
		case "new":
			err = s.New(ctx, name, "base.tar.gz", nil)
		case "rm":
			if err = s.New(ctx, name, "base.tar.gz", nil); err == nil {
				err = s.Remove(name)
			}
		case "seed":
			err = s.Seed(ctx, src, name+".tar.gz", nil)
		case "commit":
			err = s.Commit(ctx, "base", name+".tar.zst", nil)
		case "history":
			err = historyCrashOp(s) // history_test.go
		default:
			err = overlayCrashOp(ctx, s, op, i) // overlay_crash_test.go
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
}

func TestCrashSafety(t *testing.T) {
	d := t.TempDir()
	src := filepath.Join(d, "src")
	var script strings.Builder
	script.WriteString(`set -e; cd "$1"; mkdir -p a b/c; `)
	for i := range 60 {
		fmt.Fprintf(&script, "head -c %d /dev/urandom > a/f%d; ", (i*7919)%60000, i)
	}
	script.WriteString(`ln a/f1 b/hard; ln -s ../a/f2 b/c/sym; mkfifo b/fifo; setfattr -n user.x -v y a/f3`)
	os.Mkdir(src, 0o755)
	run(t, "sh", "-c", script.String(), "sh", src)
	want := describe(t, src)
	root := filepath.Join(d, "state")
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Seed(ctx, src, "base.tar.gz", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.New(ctx, "base", "base.tar.gz", nil); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"new", "rm", "seed", "commit"} {
		t.Run(op, func(t *testing.T) {
			midway := 0
			for i := range 50 {
				killDuring(t, op, root, src, time.Duration(rand.IntN(40000))*time.Microsecond)
				if ents, _ := os.ReadDir(filepath.Join(root, scratchDir)); len(ents) > 0 {
					midway++ // killed in the middle of an operation
				}
				checkConsistent(t, root, want)
				if t.Failed() {
					t.Fatalf("inconsistent after kill %d", i)
				}
			}
			t.Logf("%s: 50 kills, %d in the middle of an operation", op, midway)
			if midway < 10 {
				t.Errorf("only %d of 50 kills hit an operation in progress: the test proves little", midway)
			}
		})
	}
}

func killDuring(t *testing.T, op, root, src string, after time.Duration) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STORE_CRASH_OP="+op, "STORE_CRASH_ROOT="+root, "STORE_CRASH_SRC="+src)
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q %v %s", line, err, stderr.String())
	}
	time.Sleep(after)
	cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child ended by itself: %v %s", err, stderr.String())
	}
}

// checkConsistent reopens the store and checks that registry, metadata,
// rootfs/ and images/ agree and hold only complete work; then it removes
// what the child made, to keep the next round small.
func checkConsistent(t *testing.T, root, want string) {
	t.Helper()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ins, _ := s.Instances()
	dirs, _ := s.rootfsNames()
	if len(dirs) != len(ins) {
		t.Errorf("%d instances but rootfs/ holds %v", len(ins), dirs)
	}
	for _, in := range ins {
		if !dirs[in.Name] || in.Image != "base.tar.gz" || in.Size == 0 {
			t.Errorf("instance %+v: rootfs present %v", in, dirs[in.Name])
			continue
		}
		if got := describe(t, s.RootfsPath(in.Name)); got != want {
			t.Errorf("instance %s incomplete:\n%s", in.Name, diffLines(want, got))
		}
		if in.Name != "base" {
			if err := s.Remove(in.Name); err != nil {
				t.Error(err)
			}
		}
	}
	imgs, _ := s.Images()
	for _, img := range imgs {
		if img.Name == "base.tar.gz" {
			continue
		}
		dst := filepath.Join(s.path(scratchDir), "check")
		res, err := extractPath(s.ImagePath(img.Name), dst)
		if err != nil {
			t.Errorf("image %s incomplete: %v", img.Name, err)
			continue
		}
		if got := describe(t, res.Root); got != want {
			t.Errorf("image %s differs:\n%s", img.Name, diffLines(want, got))
		}
		os.RemoveAll(dst)
		os.Remove(s.ImagePath(img.Name))
	}
	if ents, _ := os.ReadDir(s.path(scratchDir)); len(ents) != 0 {
		t.Errorf("scratch not empty: %v", ents)
	}
}
