package archivetest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The hostile images of issue 12, small files that cost a careless reader
// gigabytes or minutes: the archive engine's tests feed them to the
// extractor, the daemon's to a daemon under an address-space limit, the VM
// test to PID 1.

// Xz compresses b with the xz tool, a 1 MiB dictionary and the extra flags
// given.
func Xz(t testing.TB, b []byte, extra ...string) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--lzma2=dict=1MiB"}, append(extra, p)...)
	if out, err := exec.Command("xz", args...).CombinedOutput(); err != nil {
		t.Fatalf("xz %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	data, err := os.ReadFile(p + ".xz")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// XzBlockHeaders returns the offsets of the block headers of the single xz
// stream s, found from its index (backwards from the footer).
func XzBlockHeaders(t testing.TB, s []byte) []int {
	t.Helper()
	back := int(binary.LittleEndian.Uint32(s[len(s)-8:])+1) * 4
	idx := s[len(s)-12-back:]
	if idx[0] != 0 {
		t.Fatalf("no xz index indicator at %d", len(s)-12-back)
	}
	r := bytes.NewReader(idx[1:])
	n, _ := binary.ReadUvarint(r)
	offs, off := []int{}, 12
	for i := uint64(0); i < n; i++ {
		unpadded, _ := binary.ReadUvarint(r)
		binary.ReadUvarint(r)
		offs = append(offs, off)
		off += int(unpadded+3) &^ 3
	}
	return offs
}

// SetXzDict rewrites the LZMA2 dictionary of the block header at off to the
// code given (40: 4 GiB - 1) and fixes the header's CRC32, so that only the
// reader's dictionary limit stands between it and the allocation.
func SetXzDict(t testing.TB, s []byte, off int, code byte) {
	t.Helper()
	h := s[off : off+(int(s[off])+1)*4]
	p := 2
	if h[1]&0x40 != 0 {
		for h[p]&0x80 != 0 {
			p++
		}
		p++
	}
	if h[1]&0x80 != 0 {
		for h[p]&0x80 != 0 {
			p++
		}
		p++
	}
	if h[p] != 0x21 || h[p+1] != 1 {
		t.Fatalf("unexpected xz block header % x", h)
	}
	h[p+2] = code
	binary.LittleEndian.PutUint32(h[len(h)-4:], crc32.ChecksumIEEE(h[:len(h)-4]))
}

// XzBomb is the 208-byte .tar.xz of issue 12: an empty stream, then a
// stream whose only block asks for a 4 GiB LZMA2 dictionary. A reader that
// checks the first block of the first stream only allocates 4 GiB.
func XzBomb(t testing.TB) []byte {
	t.Helper()
	bomb := Xz(t, Tar(t, File("etc/hostname", "bomb")))
	SetXzDict(t, bomb, 12, 40)
	return append(Xz(t, nil), bomb...)
}

// XzBombLimit is what the refusal of XzBomb says.
const XzBombLimit = "xz dictionary of 4096 MiB exceeds the 128 MiB limit"

// paxTar is a tar of n entries made by mk, each carrying the PAX records
// it gives.
func paxTar(t testing.TB, n int, mk func(i int) (*tar.Header, map[string]string)) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range n {
		hdr, recs := mk(i)
		hdr.PAXRecords, hdr.Format = recs, tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", hdr.Name, err)
		}
		if hdr.Size > 0 {
			tw.Write(bytes.Repeat([]byte{'x'}, int(hdr.Size)))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// PAXDirs is a tar of n directories d000/, d001/... each carrying recs.
func PAXDirs(t testing.TB, n int, recs map[string]string) []byte {
	t.Helper()
	return paxTar(t, n, func(i int) (*tar.Header, map[string]string) {
		return &tar.Header{Name: fmt.Sprintf("d%03d/", i), Typeflag: tar.TypeDir, Mode: 0o755}, recs
	})
}

// PAXCommentBomb is issue 12's .tar.gz (1.4 MB for 800 directories):
// dirs directories each with a PAX comment of almost 1 MiB, as many MiB of
// headers as a reader that keeps each directory's header until the end
// holds. Extracting it must succeed, the comments being ignored.
func PAXCommentBomb(t testing.TB, dirs int) []byte {
	t.Helper()
	return Gzip(PAXDirs(t, dirs, map[string]string{"comment": strings.Repeat("c", 1<<20-1024)}))
}

// PAXXattrBomb is 800 directories each with 16 user.* extended attributes
// of 65,000 bytes (1 MiB a directory), gzipped: what would have to be kept
// until the directories' metadata is set at the end. It must be refused
// with PAXXattrLimit.
func PAXXattrBomb(t testing.TB) []byte {
	t.Helper()
	xattrs := map[string]string{}
	for i := range 16 {
		xattrs[fmt.Sprintf("SCHILY.xattr.user.a%02d", i)] = strings.Repeat("v", 65000)
	}
	return Gzip(PAXDirs(t, 800, xattrs))
}

// PAXXattrLimit is what the refusal of PAXXattrBomb says.
const PAXXattrLimit = "64 MiB limit on directory metadata"

// DockerSave is a `docker save` archive (Docker 25 and later: the layers
// are blobs/sha256/HEX) whose manifest lists the blobs of layers in the
// order given by list, repeats included, as docker save writes an image
// with two identical layers.
func DockerSave(t testing.TB, layers [][]byte, list []int) []byte {
	t.Helper()
	var es []Entry
	var names []string
	for _, l := range layers {
		sum := sha256.Sum256(l)
		es = append(es, File("blobs/sha256/"+hex.EncodeToString(sum[:]), string(l)))
	}
	for _, i := range list {
		sum := sha256.Sum256(layers[i])
		names = append(names, "blobs/sha256/"+hex.EncodeToString(sum[:]))
	}
	mj, _ := json.Marshal([]map[string]any{{"Config": "cfg.json", "RepoTags": []string{"x:latest"}, "Layers": names}})
	es = append(es, File("cfg.json", "{}"), File("manifest.json", string(mj)))
	return Tar(t, es...)
}
