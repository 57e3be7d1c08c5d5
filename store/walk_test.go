package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// swapper exchanges pairs of names inside a tree again and again
// (renameat2 RENAME_EXCHANGE, atomic), as a process of a running instance
// could while the daemon walks its tree.
type swapper struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

func swapPairs(t *testing.T, root string, pairs [][2]string) *swapper {
	t.Helper()
	sw := &swapper{stop: make(chan struct{})}
	sw.wg.Add(1)
	go func() {
		defer sw.wg.Done()
		for {
			for _, p := range pairs {
				select {
				case <-sw.stop:
					return
				default:
				}
				err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(root, p[0]), unix.AT_FDCWD, filepath.Join(root, p[1]), unix.RENAME_EXCHANGE)
				if err != nil {
					t.Errorf("exchange %s and %s: %v", p[0], p[1], err)
					return
				}
			}
		}
	}()
	return sw
}

func (sw *swapper) halt() {
	close(sw.stop)
	sw.wg.Wait()
}

// TestLiveTreeWalks: walks of a live instance's tree (diff of a plain
// instance, disk use) neither block on a FIFO swapped in for a file nor
// follow a symlink swapped in for a directory out of the instance.
func TestLiveTreeWalks(t *testing.T) {
	const n = 64
	var es []entry
	for i := range n {
		es = append(es, dir(fmt.Sprintf("d%02d/", i)), file(fmt.Sprintf("d%02d/x", i), "x"),
			file(fmt.Sprintf("f%02d", i), "content"))
	}
	s := newStore(t)
	must(t, os.WriteFile(s.ImagePath("live.tar"), makeTar(t, es...), 0o600))
	ctx := context.Background()
	if err := s.New(ctx, "box", "live.tar", nil); err != nil {
		t.Fatal(err)
	}
	root := s.RootfsPath("box")
	// A host directory holding 64 MiB, which the instance must never be
	// charged for.
	host := filepath.Join(t.TempDir(), "host")
	must(t, os.Mkdir(host, 0o755))
	f, err := os.Create(filepath.Join(host, "big"))
	must(t, err)
	must(t, unix.Fallocate(int(f.Fd()), 0, 0, 64<<20))
	f.Close()

	t.Run("fifo-for-a-file", func(t *testing.T) {
		// Each file gets a new mtime, so that diff reads its content, and a
		// FIFO partner it is exchanged with all along.
		var pairs [][2]string
		for i := range n {
			name, fifo := fmt.Sprintf("f%02d", i), fmt.Sprintf("p%02d", i)
			must(t, os.Chtimes(filepath.Join(root, name), time.Now(), time.Now()))
			must(t, unix.Mkfifo(filepath.Join(root, fifo), 0o644))
			pairs = append(pairs, [2]string{name, fifo})
		}
		sw := swapPairs(t, root, pairs)
		defer func() {
			sw.halt()
			// Release any diff still blocked opening a FIFO for reading.
			for _, p := range pairs {
				for _, name := range p {
					if fd, err := unix.Open(filepath.Join(root, name), unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
						unix.Close(fd)
					}
				}
			}
		}()
		passes := 0
		for start := time.Now(); time.Since(start) < 2*time.Second; passes++ {
			done := make(chan error, 1)
			go func() { _, err := s.Diff(ctx, "box"); done <- err }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("diff: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("diff blocked for 5 s in pass %d: a FIFO was opened as a file", passes+1)
			}
		}
		t.Logf("%d diff passes while %d files were exchanged with FIFOs", passes, n)
	})

	t.Run("symlink-for-a-directory", func(t *testing.T) {
		var pairs [][2]string
		for i := range n {
			name, link := fmt.Sprintf("d%02d", i), fmt.Sprintf("l%02d", i)
			must(t, os.Symlink(host, filepath.Join(root, link)))
			pairs = append(pairs, [2]string{name, link})
		}
		base, err := s.DiskUse("box")
		if err != nil {
			t.Fatal(err)
		}
		sw := swapPairs(t, root, pairs)
		defer sw.halt()
		passes, most := 0, int64(0)
		for start := time.Now(); time.Since(start) < 2*time.Second; passes++ {
			du, err := s.DiskUse("box")
			if err != nil && !strings.Contains(err.Error(), "no such file") {
				t.Fatalf("disk use: %v", err)
			}
			most = max(most, du)
		}
		t.Logf("%d disk-use passes: %d KiB at rest, at most %d KiB while directories were exchanged with symlinks to a 64 MiB host directory",
			passes, base>>10, most>>10)
		if most > base+(1<<20) {
			t.Errorf("disk use reached %d KiB against %d KiB at rest: the walk followed a symlink out of the instance", most>>10, base>>10)
		}
	})
}
