package vmtest

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/md5"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The power-cut guest: a second daemon keeps its state root on a virtio
// disk, since a reset wipes the initramfs.
const (
	pcRoot   = "/mnt/state"
	pcSocket = "/run/pc.sock"
	pcClient = "initns --socket " + pcSocket
	pcImage  = "big.tar.gz"
	// pcCmdline loads what the disk needs: virtio_blk's alias only
	// appears once virtio_pci has bound the device, and ext4 checksums
	// its metadata with crc32c, which the kernel would ask a modprobe
	// (absent here) for.
	pcCmdline = "initns.modules=crc32c_generic,virtio_pci,virtio_blk,ext4"
	// pcModules are added to mkinitramfs.sh's default module list.
	pcModules = "virtio_pci virtio_blk ext4 crc32c_generic"
)

// powerCutInitramfs builds an initramfs like the harness's (the same
// binary, sockcat and images) whose modules also drive a virtio disk
// holding ext4.
func powerCutInitramfs(t *testing.T, a *Artifacts) string {
	return extendedInitramfs(t, a, pcModules)
}

// extendedInitramfs builds an initramfs like the harness's (the same
// binary, sockcat and images) with the modules named in modules (a space
// separated list, "" for none) beside the default ones, and the images
// given beside the harness's.
func extendedInitramfs(t *testing.T, a *Artifacts, modules string, images ...string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, "testdata/vm/mkinitramfs.sh"))
	if err != nil {
		t.Fatal(err)
	}
	// The script's own default list, so this initramfs has all it has.
	m := regexp.MustCompile(`MODULES=\$\{MODULES:-"([^"]*)"\}`).FindSubmatch(script)
	if m == nil {
		t.Fatal("mkinitramfs.sh: no default MODULES=${MODULES:-\"...\"} line to extend")
	}
	out := filepath.Join(t.TempDir(), "initramfs-extended.cpio.zst")
	args := []string{"testdata/vm/mkinitramfs.sh", "-o", out,
		"-s", a.Sockcat, "-i", a.Image, "-i", a.TestinitImage, "-k", Kernel(),
		"-m", "testdata/vm/modprobe-test.conf", "-b", a.Binary}
	for _, img := range images {
		args = append(args, "-i", img)
	}
	cmd := exec.Command("sh", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "MODULES="+strings.TrimSpace(string(m[1])+" "+modules))
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkinitramfs.sh with MODULES+=%s and images %v: %v\n%s", modules, images, err, o)
	}
	return out
}

// pcImageFacts is what a complete instance of the power-cut image holds.
type pcImageFacts struct {
	entries int // what `find .` prints in the root filesystem, "." included
	files   int // regular files, each in /mnt/expected.md5
	bytes   int64
}

// powerCutDisk makes a sparse ext4 disk image holding state/images/IMAGE
// (a gzipped tar of incompressible data in many files, so that extracting
// it takes a while) and expected.md5, the md5sum -c list of its files.
func powerCutDisk(t *testing.T) (string, pcImageFacts) {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "state/images"), 0o755); err != nil {
		t.Fatal(err)
	}
	facts, sums, err := writePowerCutImage(filepath.Join(tree, "state/images", pcImage), uint64(time.Now().UnixNano()))
	if err != nil {
		t.Fatalf("write the power-cut image: %v", err)
	}
	if err := os.WriteFile(filepath.Join(tree, "expected.md5"), []byte(sums), 0o644); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "disk.img")
	f, err := os.Create(disk)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(512 << 20)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if o, err := exec.Command("mkfs.ext4", "-F", "-q", "-d", tree, disk).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 (apt-get install e2fsprogs): %v\n%s", err, o)
	}
	os.RemoveAll(tree)
	return disk, facts
}

// writePowerCutImage writes the image: eight directories, each with six
// 640 KiB files, 190 small ones and a symlink, and a file at the top (so
// the image is not unwrapped). It returns the facts and the md5sum list.
func writePowerCutImage(path string, seed uint64) (pcImageFacts, string, error) {
	var facts pcImageFacts
	var sums strings.Builder
	f, err := os.Create(path)
	if err != nil {
		return facts, "", err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	rnd := rand.New(src)
	now := time.Now().Truncate(time.Second)
	file := func(name string, size int) error {
		data := make([]byte, size)
		src.Read(data)
		h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(size), ModTime: now, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
		fmt.Fprintf(&sums, "%x  ./%s\n", md5.Sum(data), name)
		facts.entries++
		facts.files++
		facts.bytes += int64(size)
		return nil
	}
	if err := file("README", 100); err != nil {
		return facts, "", err
	}
	for d := 0; d < 8; d++ {
		dn := fmt.Sprintf("d%02d", d)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dn + "/", Mode: 0o755, ModTime: now}); err != nil {
			return facts, "", err
		}
		facts.entries++
		for i := 0; i < 6; i++ {
			if err := file(fmt.Sprintf("%s/big%d", dn, i), 640<<10); err != nil {
				return facts, "", err
			}
		}
		for i := 0; i < 190; i++ {
			if err := file(fmt.Sprintf("%s/small%03d", dn, i), 200+rnd.IntN(3800)); err != nil {
				return facts, "", err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: dn + "/link", Linkname: "big0", ModTime: now}); err != nil {
			return facts, "", err
		}
		facts.entries++
	}
	facts.entries++ // "." itself
	if err := tw.Close(); err != nil {
		return facts, "", err
	}
	if err := zw.Close(); err != nil {
		return facts, "", err
	}
	if err := bw.Flush(); err != nil {
		return facts, "", err
	}
	return facts, sums.String(), f.Close()
}

// pcUp mounts the disk (ext4 replays its journal after a reset) and starts
// the second daemon on it, returning when its socket is there: the daemon
// listens only once it has emptied scratch/ and reconciled the registry.
// It returns what the state root held before the daemon started: scratch/,
// rootfs/ and the registry, to show what the power cut left.
func (g *guest) pcUp() string {
	g.t.Helper()
	// PID 1 may still be loading modules when its socket is up: wait for
	// the disk and for ext4.
	if out, rc := g.shRC("i=0; until [ -b /dev/vda ] && grep -qw ext4 /proc/filesystems || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done; " +
		"mkdir -p /mnt && mount -t ext4 /dev/vda /mnt"); rc != 0 {
		g.t.Fatalf("mount /dev/vda (%s): status %d: %s\nmodules:\n%s", pcCmdline, rc, out, g.sh("cat /proc/modules; grep -i 'kernel module' /var/lib/initns/log | tail -n 20"))
	}
	before := g.sh("cd " + pcRoot + " && echo scratch/: $(ls -A scratch 2>/dev/null)';' rootfs/: $(ls -A rootfs 2>/dev/null)';' instances: $(cat instances 2>/dev/null); cd /")
	g.sh("B=$(readlink -f /init); { $B init --root " + pcRoot + " --socket " + pcSocket +
		" --cgroup /sys/fs/cgroup/pc --console /dev/null --hotkey=false </dev/null >/tmp/pc.out 2>&1 & echo $! >/run/pc.pid; }")
	if out, rc := g.shRC("i=0; while [ ! -S " + pcSocket + " ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; test -S " + pcSocket); rc != 0 {
		g.t.Fatalf("the daemon on the disk never listened on %s: %s\n%s", pcSocket, out, g.sh("cat /tmp/pc.out; tail -n 20 "+pcRoot+"/log"))
	}
	return strings.TrimSpace(before)
}

// pcState is what the daemon on the disk shows after it started.
type pcState struct {
	listed  []string // ls instance
	scratch []string // entries of scratch/
	rootfs  []string // entries of rootfs/
}

func (g *guest) pcState() pcState {
	g.t.Helper()
	var s pcState
	s.listed = strings.Fields(g.sh(pcClient + " ls instance"))
	s.scratch = strings.Fields(g.sh("ls -A " + pcRoot + "/scratch"))
	s.rootfs = strings.Fields(g.sh("ls -A " + pcRoot + "/rootfs"))
	return s
}

// pcCheckConsistent fails the test unless scratch/ is empty and rootfs/
// holds exactly the registered instances, and returns whether name is
// listed.
func (g *guest) pcCheckConsistent(name string) bool {
	g.t.Helper()
	s := g.pcState()
	if len(s.scratch) != 0 {
		g.t.Errorf("scratch/ not emptied at daemon start: %v", s.scratch)
	}
	if strings.Join(s.rootfs, " ") != strings.Join(s.listed, " ") {
		g.t.Errorf("rootfs/ holds %v, the registry lists %v: want the same", s.rootfs, s.listed)
	}
	switch {
	case len(s.listed) == 0:
		return false
	case len(s.listed) == 1 && s.listed[0] == name:
		return true
	}
	g.t.Errorf("ls instance: %v, want nothing or %s", s.listed, name)
	return false
}

// pcCheckComplete fails the test unless instance name's root filesystem
// is the whole image: every entry, every file's checksum.
func (g *guest) pcCheckComplete(name string, want pcImageFacts) {
	g.t.Helper()
	dir := pcRoot + "/rootfs/" + name
	// Subshells: the console's shell must keep its directory and live.
	n := strings.TrimSpace(g.sh("(cd " + dir + " && find . | wc -l)"))
	if n != fmt.Sprint(want.entries) {
		g.t.Errorf("instance %s has %s entries, the image %d", name, n, want.entries)
	}
	out, rc := g.shRC("(cd " + dir + " && md5sum -c /mnt/expected.md5 >/tmp/md5.out 2>&1; r=$?; grep -v ': OK$' /tmp/md5.out | head -n 5; exit $r)")
	if rc != 0 {
		g.t.Errorf("instance %s: files differ from the image (md5sum -c status %d):\n%s", name, rc, out)
	}
}

// pcBackground starts cmd on the guest shell in the background, between
// two markers, and waits for the first: it returns when cmd starts and the
// console offset from which to look for the end marker "@@PCEND<seq>=rc".
// With watch (a shell condition), a second background loop polls it
// without pause (the guest has one CPU: the daemon still gets its share)
// and, once it holds, stops the disk's daemon (SIGSTOP, so that the
// power cut finds the state root as it was then, whatever the latency of
// the console and the monitor) and prints "@@PCSEEN<seq>" (pcSeen waits
// for that).
func (g *guest) pcBackground(seq int, cmd, watch string) int {
	g.t.Helper()
	off := g.vm.Console.Offset()
	line := fmt.Sprintf("{ echo @@''PCBEGIN%d; %s; echo @@''PCEND%d=$?; } &", seq, cmd, seq)
	if watch != "" {
		// kill is a builtin: nothing forks between the condition and the
		// stop.
		line = fmt.Sprintf("{ p=$(cat /run/pc.pid); until %s; do :; done; kill -STOP $p; echo @@''PCSEEN%d; } & %s", watch, seq, line)
	}
	fmt.Fprintf(g.vm.Console, "%s\n", line)
	if err := g.vm.Console.ExpectFrom(off, fmt.Sprintf("@@PCBEGIN%d\n", seq), 30*time.Second); err != nil {
		g.t.Fatalf("background %q did not start: %v", cmd, err)
	}
	return off
}

// pcSeen waits until the watch condition of background command seq held
// (and the daemon was stopped), and reports true, or until the command
// ended first, and reports false: a short window may pass between two
// looks of the watching loop.
func (g *guest) pcSeen(off, seq int, watch string) bool {
	g.t.Helper()
	seen := regexp.MustCompile(fmt.Sprintf(`@@PCSEEN%d\n|@@PCEND%d=`, seq, seq))
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if m := seen.FindString(g.vm.Console.Log()[off:]); m != "" {
			return strings.HasPrefix(m, "@@PCSEEN")
		}
	}
	g.t.Fatalf("%s never held and the command did not end within 60 s", watch)
	return false
}

// pcEnded returns the exit status the background command seq reported
// after offset, or -1 if it has not ended (as far as the console shows).
func (g *guest) pcEnded(off, seq int) int {
	m := regexp.MustCompile(fmt.Sprintf(`@@PCEND%d=(\d+)\n`, seq)).FindStringSubmatch(g.vm.Console.Log()[off:])
	if m == nil {
		return -1
	}
	var rc int
	fmt.Sscan(m[1], &rc)
	return rc
}

// pcReset cuts the power: QEMU's system_reset, then waits for the guest to
// boot again (the shell and PID 1's socket) and brings the disk's daemon up.
// It returns how long that took and what pcUp found before the daemon
// started.
func (g *guest) pcReset() (time.Duration, string) {
	g.t.Helper()
	start := time.Now()
	off := g.vm.Console.Offset()
	if _, err := g.vm.Monitor.Command("system_reset"); err != nil {
		g.t.Fatalf("system_reset: %v", err)
	}
	g.expect(off, "SeaBIOS", "system_reset did not reset the machine", 60*time.Second)
	g.waitUp()
	before := g.pcUp()
	return time.Since(start), before
}
