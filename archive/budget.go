package archive

import (
	"archive/tar"
	"fmt"
	"strings"
)

// The extractor's memory budget (issue 12): whatever an image holds, the
// daemon, which may be PID 1, keeps at most a bounded amount of it.
const (
	// maxPAXBytes bounds the records of one entry's extended header. It is
	// archive/tar's own limit on the header it reads (maxSpecialFileSize),
	// checked again here so that the refusal names it.
	maxPAXBytes = 1 << 20
	// maxDirMeta bounds the directory metadata kept until the end of an
	// extraction (a directory's times are set once every entry in it is in
	// place): names, owners, modes, times and extended attributes. At the
	// ~150 bytes a directory costs without attributes, that is over 400,000
	// directories; a Debian root filesystem has about 5,000.
	maxDirMeta = 64 << 20
	// dirMetaOverhead is what one kept directory costs beside its name and
	// attribute bytes: the map entry, the attrs record, the list slot.
	dirMetaOverhead = 128
	// maxQueuedAttrs is the most attribute bytes a job handed to the
	// writers may carry: queueLen jobs of 1 MiB each would hold 256 MiB.
	// An entry with more is made by the parser at once.
	maxQueuedAttrs = 64 << 10
)

// keptHeader copies what extraction uses of hdr, so that nothing else of
// the entry's extended header stays reachable: archive/tar's strings are
// slices of the whole header, so a kept name would keep a 1 MiB comment
// alive. Only the records attrsOf and isSparse read are kept (the sparse
// ones without their values: only their presence matters).
func keptHeader(hdr *tar.Header) (*tar.Header, error) {
	n := 0
	var recs map[string]string
	for k, v := range hdr.PAXRecords {
		n += len(k) + len(v)
		switch {
		case strings.HasPrefix(k, paxXattr), k == paxACLAccess, k == paxACLDefault:
		case strings.HasPrefix(k, "GNU.sparse."):
			v = ""
		default:
			continue
		}
		if recs == nil {
			recs = map[string]string{}
		}
		recs[strings.Clone(k)] = strings.Clone(v)
	}
	if n > maxPAXBytes {
		return nil, &entryError{strings.Clone(hdr.Name), fmt.Errorf("%w: %d KiB of extended header records, over the %d MiB limit on an entry's extended header",
			ErrBadImage, n>>10, maxPAXBytes>>20)}
	}
	return &tar.Header{
		Typeflag:   hdr.Typeflag,
		Name:       strings.Clone(hdr.Name),
		Linkname:   strings.Clone(hdr.Linkname),
		Size:       hdr.Size,
		Mode:       hdr.Mode,
		Uid:        hdr.Uid,
		Gid:        hdr.Gid,
		ModTime:    hdr.ModTime,
		AccessTime: hdr.AccessTime,
		Devmajor:   hdr.Devmajor,
		Devminor:   hdr.Devminor,
		PAXRecords: recs,
	}, nil
}

// bytes is what a's extended attributes hold.
func (a *attrs) bytes() int {
	n := 0
	for _, x := range a.xattrs {
		n += len(x.name) + len(x.value)
	}
	return n
}

// dirMetaCost is what keeping a's metadata for directory name costs.
func dirMetaCost(name string, a *attrs) int {
	n := dirMetaOverhead + len(name)
	if a != nil {
		n += a.bytes()
	}
	return n
}

// maxSparseSize bounds the apparent size of all the sparse files of one
// image, every layer included. archive/tar hands a sparse file's holes over
// as zeros, which are scanned to skip them: about 17 GiB/s on a 2-core
// machine, where six 64 GiB files in a 10 KB tar cost 21 s of CPU. 8 GiB
// keeps that under half a second; a bigger sparse file is refused.
const maxSparseSize = 8 << 30

// sparseBudget is what is left of maxSparseSize (or of the fuzz target's
// smaller limit) for the rest of an image.
type sparseBudget struct{ left, limit int64 }

// take counts a sparse file of size bytes against the budget.
func (b *sparseBudget) take(size int64) error {
	if size > b.left {
		return fmt.Errorf("%w: a sparse file of %.1f GiB, with %.1f GiB of sparse files before it, is over the %.1f GiB limit on the apparent size of sparse files in one image (their holes cost CPU time to skip)",
			ErrBadImage, gib(size), gib(b.limit-b.left), gib(b.limit))
	}
	b.left -= size
	return nil
}

func gib(n int64) float64 { return float64(n) / (1 << 30) }

// maxLayers bounds the layers of an OCI or docker save image, each applied
// in turn (a layer listed twice is applied twice, as docker load does:
// docker save lists an image's identical layers at each place). Docker
// itself refuses a chain of more than 125 layers (moby layer/layer_store.go,
// maxLayerDepth), so no image it made or runs is refused here.
const maxLayers = 128

func checkLayerCount(refs []layerRef) error {
	if len(refs) > maxLayers {
		return fmt.Errorf("%w: the image lists %d layers, over the limit of %d (Docker's own is 125)", ErrBadImage, len(refs), maxLayers)
	}
	return nil
}
