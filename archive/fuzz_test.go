package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"initns/internal/archivetest"
)

// imageHeapBudget is the most heap the extraction of one image may grow
// by: the largest decoder window (an xz dictionary or a zstd window, one
// decoder at a time), the directory metadata kept until the end and the
// tenth over it the collector lets grow at peakHeap's GOGC of 10, and
// 32 MiB for the buffers of the decoders and the tar reader (an extended
// header among them). It is under the daemon's soft memory limit
// (256 MiB), which the budget of RELIABILITY.md is.
const imageHeapBudget = max(xzMaxDict, zstdMaxWindow) + maxDirMeta + maxDirMeta/10 + 32<<20

// daemonMemoryLimit is the daemon's soft memory limit (memoryLimit in
// daemon/main_linux.go), which imageHeapBudget must stay under: a limit of
// the engine raised past it fails FuzzExtract at once.
const daemonMemoryLimit = 256 << 20

// FuzzExtract feeds arbitrary bytes, as an image file, to the whole image
// path the daemon's new takes (ExtractImage: format detection,
// decompression, tar parsing, OCI layouts and docker save archives with
// their layers). Whatever the input, it must not panic, must grow the heap
// by at most imageHeapBudget (sampled as archive's budget tests do, and
// the runtime's mapped memory as a high-water mark), must
// create nothing beside its destination, and on error must leave nothing
// at all. Seeds live in testdata/fuzz/FuzzExtract; those added here are
// the formats and the bombs of issue 12, made small.
func FuzzExtract(f *testing.F) {
	plain := makeTar(f, file("etc/hostname", "x"), symlink("l", "/etc"), hardlink("h", "etc/hostname"))
	f.Add(plain)
	f.Add(gzipBytes(makeTar(f, dir("a/"), file("a/b", "b"))))
	f.Add(zstdBytes(makeTar(f, file("z", strings.Repeat("z", 3000)))))
	f.Add(xzOf(f, plain))
	f.Add(ociLayoutTar(f, gzipBytes(plain), makeTar(f, file("etc/.wh.hostname", ""))))
	f.Add(dockerSaveOf(f, [][]byte{plain, makeTar(f, file(".wh.l", ""))}, []int{0, 1, 0}))
	f.Add(archivetest.XzBomb(f))
	f.Add(cat(zstdBytes(nil), zstdFrameHeader(false)))
	f.Add(gzipBytes(archivetest.PAXDirs(f, 40, map[string]string{"comment": strings.Repeat("c", 1<<20-1024)})))
	f.Add(gzipBytes(archivetest.PAXDirs(f, 4, map[string]string{"SCHILY.xattr.user.a": strings.Repeat("v", 1000)})))
	f.Fuzz(func(t *testing.T, data []byte) {
		if imageHeapBudget > daemonMemoryLimit {
			t.Fatalf("the image budget, %d MiB, is over the daemon's memory limit, %d MiB", imageHeapBudget>>20, daemonMemoryLimit>>20)
		}
		d := fuzzDir(t)
		img := filepath.Join(d, "image")
		if err := os.WriteFile(img, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		defer fi.Close()
		dst := filepath.Join(d, "root")
		base := mappedBase()
		var res Result
		peak, _ := peakHeap(func() {
			res, err = extractImage(context.Background(), fi, dst, nil, extractOpts{maxSparse: 1 << 30})
		})
		if peak > imageHeapBudget {
			t.Fatalf("%d-byte image (%v): the heap grew by %d MiB, over the %d MiB budget", len(data), err, peak>>20, imageHeapBudget>>20)
		}
		if m := mapped(); m > base+imageHeapBudget+64<<20 {
			t.Fatalf("%d-byte image (%v): the runtime has mapped %d MiB more than before the first input: an allocation past the budget, if only for a moment",
				len(data), err, (m-base)>>20)
		}
		ents, _ := os.ReadDir(d)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		switch got := strings.Join(names, " "); {
		case err != nil && got != "image":
			t.Fatalf("failed extraction (%v) left %v", err, names)
		case err == nil && got != "image root":
			t.Fatalf("extraction created %v beside its destination", names)
		case err == nil && res.Root != dst && filepath.Dir(res.Root) != dst:
			t.Fatalf("result root %s outside %s", res.Root, dst)
		}
	})
}

// mapped is the memory the Go runtime has mapped, which it never unmaps:
// the high-water mark of the heap, which catches an allocation too brief
// for peakHeap's sampling (a 4 GiB xz dictionary allocated, then dropped
// at the first error, lives for microseconds).
func mapped() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// mappedBase is mapped before the first input of this process.
var mappedBase = sync.OnceValue(mapped)

// fuzzDir is a directory for one input, on /dev/shm when that is a tmpfs:
// on a file system mounted with discard (this machine's ext4), removing
// what an input made waits for the disk, and the fuzzer ran a few inputs
// a minute.
func fuzzDir(t *testing.T) string {
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) == nil && st.Type == unix.TMPFS_MAGIC {
		if d, err := os.MkdirTemp("/dev/shm", "initns-fuzz-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// ociLayoutTar is an archive of an OCI image layout whose one manifest
// lists layers (gzip-compressed when they are, plain otherwise).
func ociLayoutTar(t testing.TB, layers ...[]byte) []byte {
	var es []entry
	put := func(b []byte) string {
		sum := sha256.Sum256(b)
		es = append(es, file("blobs/sha256/"+hex.EncodeToString(sum[:]), string(b)))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	desc := func(mt string, b []byte) string {
		return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d}`, mt, put(b), len(b))
	}
	var ls []string
	for _, l := range layers {
		mt := "application/vnd.oci.image.layer.v1.tar"
		if len(l) > 2 && l[0] == 0x1f && l[1] == 0x8b {
			mt += "+gzip"
		}
		ls = append(ls, desc(mt, l))
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}`,
		desc("application/vnd.oci.image.config.v1+json", []byte(`{"os":"linux"}`)), strings.Join(ls, ","))
	index := fmt.Sprintf(`{"schemaVersion":2,"manifests":[%s]}`, desc("application/vnd.oci.image.manifest.v1+json", []byte(manifest)))
	es = append([]entry{file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`), file("index.json", index)}, es...)
	return makeTar(t, es...)
}
