package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"initns/archive"
)

// The benchmarks extract a real distribution root filesystem (Debian
// bookworm, debootstrap --variant=minbase) with initns and with GNU tar in
// the same run, each synced to disk before the clock stops, and report the
// ratios. The root filesystem and its images are built once and cached
// outside the repository in benchCache.
//
//	go test -run '^$' -bench . ./store      (make bench)
const benchCache = "/var/cache/initns-bench"

var (
	benchOnce sync.Once
	benchDir  string // the cached images, or "" if they could not be made
	benchErr  error
)

// benchImages returns the folder holding minbase.tar, .tar.gz and .tar.zst.
func benchImages(b *testing.B) string {
	benchOnce.Do(func() { benchDir, benchErr = makeBenchImages() })
	if benchErr != nil {
		b.Fatalf("benchmark images: %v", benchErr)
	}
	return benchDir
}

func makeBenchImages() (string, error) {
	rootfs := filepath.Join(benchCache, "bookworm-minbase")
	if _, err := os.Stat(filepath.Join(benchCache, "bookworm-minbase.complete")); err != nil {
		if err := debootstrap(rootfs); err != nil {
			return "", err
		}
	}
	for _, suffix := range []string{".tar", ".tar.gz", ".tar.zst"} {
		img := filepath.Join(benchCache, "minbase"+suffix)
		if _, err := os.Stat(img); err == nil {
			continue
		}
		args := append([]string{"--format=posix", "-C", rootfs}, gnuTarFlags...)
		tmp := filepath.Join(benchCache, "tmp-minbase"+suffix) // tar -a picks the compression by suffix
		if out, err := exec.Command("tar", append(args, "-caf", tmp, ".")...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("tar: %v\n%s", err, out)
		}
		if err := os.Rename(tmp, img); err != nil {
			return "", err
		}
	}
	return benchCache, nil
}

func debootstrap(rootfs string) error {
	tmp := rootfs + ".tmp"
	os.RemoveAll(tmp)
	mirror := aptMirror()
	if mirror == "" {
		return fmt.Errorf("no Debian mirror in /etc/apt/sources.list or /etc/apt/sources.list.d: add the one this machine reaches")
	}
	fmt.Fprintf(os.Stderr, "building the benchmark root filesystem in %s from %s (once)\n", rootfs, mirror)
	cmd := exec.Command("debootstrap", "--variant=minbase", "bookworm", tmp, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("debootstrap: %v\n%s", err, out)
	}
	os.RemoveAll(rootfs)
	if err := os.Rename(tmp, rootfs); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(benchCache, "bookworm-minbase.complete"), nil, 0o644)
}

// aptMirror returns the first Debian (not security) mirror this machine's
// apt sources name, which is the one it can reach, or "".
func aptMirror() string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	for _, f := range append([]string{"/etc/apt/sources.list"}, files...) {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			for i, w := range fields {
				if (w == "URIs:" || w == "deb") && i+1 < len(fields) && strings.HasPrefix(fields[i+1], "http") &&
					!strings.Contains(fields[i+1], "security") {
					return fields[i+1]
				}
			}
		}
	}
	return ""
}

// timed runs f after flushing earlier writes, and returns how long it took.
func timed(b *testing.B, f func() error) time.Duration {
	syscall.Sync() // start with nothing dirty
	start := time.Now()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func gnuTarExtract(image, dst string, compress ...string) func() error {
	return func() error {
		if err := os.Mkdir(dst, 0o755); err != nil {
			return err
		}
		args := append(append([]string{"-C", dst}, gnuTarFlags...), compress...)
		cmd := exec.Command("tar", append(args, "-xf", image)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("tar: %v\n%s", err, out)
		}
		return archive.SyncFS(dst) // the same durability as initns
	}
}

// benchFS mounts a fresh journaled ext4 (a loop device with direct I/O on a
// preallocated file in benchCache) as the benchmark's work area, as a state
// root usually lives on. The machine's own root file system has no journal,
// and ext4 without a journal scans recently deleted inodes on every
// creation (recently_deleted()), which made timings depend on whatever the
// other users of the machine had just deleted.
func benchFS(b *testing.B) string {
	f, err := os.CreateTemp(benchCache, "fs-*.img")
	if err != nil {
		b.Fatal(err)
	}
	f.Close()
	img := f.Name()
	b.Cleanup(func() { os.Remove(img) })
	if out, err := exec.Command("fallocate", "-l", "6G", img).CombinedOutput(); err != nil {
		b.Fatalf("fallocate: %v\n%s", err, out)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", img).CombinedOutput(); err != nil {
		b.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	out, err := exec.Command("losetup", "--direct-io=on", "--find", "--show", img).CombinedOutput()
	if err != nil {
		b.Fatalf("losetup: %v\n%s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	mnt := b.TempDir()
	if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
		exec.Command("losetup", "-d", dev).Run()
		b.Fatalf("mount: %v\n%s", err, out)
	}
	b.Cleanup(func() {
		exec.Command("umount", mnt).Run()
		exec.Command("losetup", "-d", dev).Run()
	})
	return mnt
}

func initnsExtract(image, dst string) func() error {
	return func() error {
		_, err := extractPath(image, dst)
		return err
	}
}

type contender struct {
	name string
	run  func(dst string) func() error
}

// extractRounds is the fewest rounds an extraction race runs: make bench
// asks for one iteration, and one sample of a second or less on a shared
// machine is mostly noise.
const extractRounds = 3

// race runs every contender once per round (b.N rounds, or rounds if
// more), alternating, and reports each one's mean time and its ratio to
// the first.
func race(b *testing.B, rounds int, cs ...contender) {
	work := benchFS(b)
	total := make([]time.Duration, len(cs))
	rounds = max(rounds, b.N)
	// Trees are deleted only at the end: on an ext4 without a journal,
	// creating inodes right after mass deletion is slowed down by the
	// kernel's recently_deleted() scan, which would tax whoever runs next.
	b.ResetTimer()
	for i := 0; i < rounds; i++ {
		for j, c := range cs {
			total[j] += timed(b, c.run(filepath.Join(work, fmt.Sprintf("%d-%d", i, j))))
		}
	}
	b.StopTimer()
	var line strings.Builder
	for j, c := range cs {
		sec := total[j].Seconds() / float64(rounds)
		b.ReportMetric(sec, c.name+"-s")
		fmt.Fprintf(&line, "  %s %.3fs", c.name, sec)
		if j > 0 {
			ratio := total[0].Seconds() / total[j].Seconds()
			b.ReportMetric(ratio, "x-vs-"+c.name)
			fmt.Fprintf(&line, " (initns/%s = %.2f)", c.name, ratio)
		}
	}
	b.ReportMetric(0, "ns/op")
	fmt.Printf("%s (%d rounds):%s\n", b.Name(), rounds, line.String())
}

// BenchmarkExtractTarGz: goals 0.5x of tar -xzf and 0.8x of tar -I pigz.
func BenchmarkExtractTarGz(b *testing.B) {
	img := filepath.Join(benchImages(b), "minbase.tar.gz")
	race(b, extractRounds,
		contender{"initns", func(d string) func() error { return initnsExtract(img, d) }},
		contender{"tar-xzf", func(d string) func() error { return gnuTarExtract(img, d, "-z") }},
		contender{"tar-pigz", func(d string) func() error { return gnuTarExtract(img, d, "-I", "pigz") }},
	)
}

// BenchmarkExtractTarZst: goal within 1.3x of initns's plain .tar.
func BenchmarkExtractTarZst(b *testing.B) {
	dir := benchImages(b)
	zst, plain := filepath.Join(dir, "minbase.tar.zst"), filepath.Join(dir, "minbase.tar")
	race(b, extractRounds,
		contender{"initns", func(d string) func() error { return initnsExtract(zst, d) }},
		contender{"initns-tar", func(d string) func() error { return initnsExtract(plain, d) }},
		contender{"tar-zstd", func(d string) func() error { return gnuTarExtract(zst, d, "-I", "zstd") }},
	)
}

// BenchmarkExtractTar: plain tar against tar -xf.
func BenchmarkExtractTar(b *testing.B) {
	img := filepath.Join(benchImages(b), "minbase.tar")
	race(b, extractRounds,
		contender{"initns", func(d string) func() error { return initnsExtract(img, d) }},
		contender{"tar-xf", func(d string) func() error { return gnuTarExtract(img, d) }},
	)
}

// BenchmarkCommitTarGz: commit to .tar.gz, goal 0.5x of tar -czf (both
// synced to disk).
func BenchmarkCommitTarGz(b *testing.B) {
	img := filepath.Join(benchImages(b), "minbase.tar")
	s, err := Open(filepath.Join(benchFS(b), "state"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink(img, s.ImagePath("minbase.tar")); err != nil {
		b.Fatal(err)
	}
	if err := s.New(context.Background(), "box", "minbase.tar", nil); err != nil {
		b.Fatal(err)
	}
	n := 0
	race(b, 1, // tar -czf takes seconds
		contender{"initns", func(string) func() error {
			n++
			name := fmt.Sprintf("c%d.tar.gz", n)
			return func() error {
				defer os.Remove(s.ImagePath(name))
				return s.Commit(context.Background(), "box", name, nil)
			}
		}},
		contender{"tar-czf", func(d string) func() error {
			return func() error {
				defer os.Remove(d + ".tar.gz")
				args := append([]string{"--format=posix", "-C", s.RootfsPath("box")}, gnuTarFlags...)
				if out, err := exec.Command("tar", append(args, "-czf", d+".tar.gz", ".")...).CombinedOutput(); err != nil {
					return fmt.Errorf("tar: %v\n%s", err, out)
				}
				return archive.SyncFS(filepath.Dir(d))
			}
		}},
	)
}

// BenchmarkExtractPeakMemory extracts the .tar.gz in a child process (the
// test binary itself) and reports that process's peak resident memory
// (getrusage ru_maxrss), the daemon's cost of a new. Goal: under 200 MiB.
func BenchmarkExtractPeakMemory(b *testing.B) {
	img := filepath.Join(benchImages(b), "minbase.tar.gz")
	work := benchFS(b)
	var peak int64
	for i := 0; i < b.N; i++ {
		dst := filepath.Join(work, fmt.Sprint(i))
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "STORE_RSS_IMAGE="+img, "STORE_RSS_DST="+dst)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		peak = max(peak, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) // KiB
		b.StopTimer()
		os.RemoveAll(dst)
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/1024, "peak-MiB")
	fmt.Printf("%s: peak RSS of a process extracting minbase.tar.gz: %.1f MiB\n", b.Name(), float64(peak)/1024)
}

// rssChild is the child of BenchmarkExtractPeakMemory.
func rssChild(img, dst string) int {
	if _, err := extractPath(img, dst); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
