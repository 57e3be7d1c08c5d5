package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"
)

// benchStore opens a state root on a fresh ext4 (benchFS) holding the
// Debian minbase .tar.gz as images/minbase.tar.gz.
func benchStore(b *testing.B) *Store {
	img := filepath.Join(benchImages(b), "minbase.tar.gz")
	s, err := Open(filepath.Join(benchFS(b), "state"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.UnmountAll() })
	if err := os.Symlink(img, s.ImagePath("minbase.tar.gz")); err != nil {
		b.Fatal(err)
	}
	return s
}

func p50(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

func timeIt(b *testing.B, f func() error) time.Duration {
	start := time.Now()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkNewOverlay: new --overlay of the Debian minbase image once its
// lower layer exists (goal: p50 under 20 ms) and rm of it (goal: p50 under
// 50 ms), beside a plain New of the same image.
func BenchmarkNewOverlay(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	first := timeIt(b, func() error { return s.NewOverlay(ctx, "first", "minbase.tar.gz", nil) })
	const samples = 30
	var newT, rmT, plainT []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < samples; j++ {
			name := fmt.Sprintf("o%d-%d", i, j)
			newT = append(newT, timeIt(b, func() error { return s.NewOverlay(ctx, name, "minbase.tar.gz", nil) }))
		}
		for j := 0; j < samples; j++ {
			name := fmt.Sprintf("o%d-%d", i, j)
			rmT = append(rmT, timeIt(b, func() error { return s.Remove(name) }))
		}
		name := fmt.Sprintf("p%d", i)
		syscall.Sync()
		plainT = append(plainT, timeIt(b, func() error { return s.New(ctx, name, "minbase.tar.gz", nil) }))
	}
	b.StopTimer()
	// What a person does next with an instance: see what changed, copy it.
	os.WriteFile(filepath.Join(s.RootfsPath("p0"), "etc/hostname"), []byte("changed\n"), 0o644)
	var ch []Change
	diffT := timeIt(b, func() (err error) { ch, err = s.Diff(ctx, "p0"); return err })
	if len(ch) != 1 {
		b.Fatalf("Diff after one change: %v", ch)
	}
	cloneT := timeIt(b, func() error { return s.Clone(ctx, "p0", "p0-clone", nil) })
	b.ReportMetric(ms(diffT), "diff-plain-ms")
	b.ReportMetric(ms(cloneT), "clone-plain-ms")
	fmt.Printf("%s: diff of a plain instance %.0f ms, clone of it (ext4: no reflink) %.0f ms\n", b.Name(), ms(diffT), ms(cloneT))
	n, r, p := p50(newT), p50(rmT), p50(plainT)
	b.ReportMetric(float64(n.Microseconds())/1000, "new-overlay-p50-ms")
	b.ReportMetric(float64(r.Microseconds())/1000, "rm-overlay-p50-ms")
	b.ReportMetric(float64(p.Microseconds())/1000, "new-plain-p50-ms")
	b.ReportMetric(p.Seconds()/n.Seconds(), "x-plain-vs-overlay")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("%s: new --overlay p50 %.1f ms (first, extracting the lower layer: %.0f ms), rm p50 %.1f ms; plain new p50 %.0f ms (%.0fx the overlay)\n",
		b.Name(), ms(n), ms(first), ms(r), ms(p), p.Seconds()/n.Seconds())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkResetOverlay: reset of an overlay instance holding 100 MB of
// changes (100 files of 1 MB, on disk before the clock starts), goal under
// 200 ms.
func BenchmarkResetOverlay(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	if err := s.NewOverlay(ctx, "box", "minbase.tar.gz", nil); err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	var times []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 3; j++ {
			b.StopTimer()
			dir := filepath.Join(s.RootfsPath("box"), "var/tmp/junk")
			os.MkdirAll(dir, 0o755)
			for k := 0; k < 100; k++ {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(k)), chunk, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			syscall.Sync()
			if du, _ := s.DiskUse("box"); du < 100<<20 {
				b.Fatalf("upper layer holds %d bytes, want 100 MB", du)
			}
			b.StartTimer()
			times = append(times, timeIt(b, func() error { return s.Reset(ctx, "box", nil) }))
		}
	}
	b.StopTimer()
	if _, err := os.Stat(filepath.Join(s.RootfsPath("box"), "var/tmp/junk")); !os.IsNotExist(err) {
		b.Fatalf("changes survived Reset: %v", err)
	}
	r := p50(times)
	b.ReportMetric(ms(r), "reset-p50-ms")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("%s: reset of an overlay with 100 MB of changes p50 %.1f ms\n", b.Name(), ms(r))
}
