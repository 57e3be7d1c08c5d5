package archive

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// archive/tar reads GNU sparse files but cannot write them (it drops
// GNU.sparse.* records), so sparse members are written here by hand in the
// PAX format 1.0 that GNU tar --sparse writes and restores: an extended
// header naming the real file, then a member whose data starts with the
// map of data regions followed by those regions.

const blockSize = 512

// paxRecord formats one extended header record: "LEN key=value\n", where
// LEN counts the whole record including its own digits.
func paxRecord(k, v string) string {
	n := len(k) + len(v) + 3 // space, '=', newline
	n += len(strconv.Itoa(n))
	rec := strconv.Itoa(n) + " " + k + "=" + v + "\n"
	if len(rec) != n { // adding the digits added a digit
		rec = strconv.Itoa(len(rec)) + " " + k + "=" + v + "\n"
	}
	return rec
}

// paxRecords formats records sorted by key, for reproducible archives.
func paxRecords(recs map[string]string) string {
	keys := make([]string, 0, len(recs))
	for k := range recs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		sb.WriteString(paxRecord(k, recs[k]))
	}
	return sb.String()
}

// ustarHeader is the subset of a header block the sparse writer needs.
type ustarHeader struct {
	name     string // at most 100 bytes
	typeflag byte
	mode     int64
	uid, gid int
	size     int64
	mtime    time.Time
}

// block renders a POSIX ustar header block with its checksum.
func (h ustarHeader) block() ([blockSize]byte, error) {
	var b [blockSize]byte
	if len(h.name) > 100 {
		return b, fmt.Errorf("ustar name %q too long", h.name)
	}
	copy(b[0:100], h.name)
	octal(b[100:108], h.mode&0o7777)
	octal(b[108:116], int64(clampID(h.uid)))
	octal(b[116:124], int64(clampID(h.gid)))
	octal(b[124:136], h.size)
	octal(b[136:148], max(0, min(h.mtime.Unix(), 0o77777777777)))
	b[156] = h.typeflag
	copy(b[257:263], "ustar\x00")
	copy(b[263:265], "00")
	var sum int64
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b, nil
}

// clampID keeps an id within the 7 octal digits of a ustar field; the real
// value travels in the extended header.
func clampID(id int) int {
	return min(max(id, 0), 0o7777777)
}

func octal(dst []byte, v int64) {
	s := strconv.FormatInt(v, 8)
	w := len(dst) - 1
	if len(s) > w {
		s = strings.Repeat("7", w) // the extended header holds the real value
	}
	copy(dst, strings.Repeat("0", w-len(s))+s)
	dst[w] = 0
}

// sparseRegion is one stretch of data in a sparse file.
type sparseRegion struct{ off, len int64 }

// sparseMap renders the 1.0 map that opens the member's data, padded to a
// whole block: the region count, then offset and length of each, one
// decimal number per line.
func sparseMap(regions []sparseRegion, size int64) []byte {
	if len(regions) == 0 || regions[len(regions)-1].off+regions[len(regions)-1].len < size {
		// A trailing hole: GNU tar ends the map with an empty region at
		// the end of the file, so the reader knows the real size.
		regions = append(regions, sparseRegion{size, 0})
	}
	var sb strings.Builder
	sb.WriteString(strconv.Itoa(len(regions)) + "\n")
	for _, r := range regions {
		sb.WriteString(strconv.FormatInt(r.off, 10) + "\n" + strconv.FormatInt(r.len, 10) + "\n")
	}
	return padBlock([]byte(sb.String()))
}

func padBlock(b []byte) []byte {
	if r := len(b) % blockSize; r != 0 {
		b = append(b, make([]byte, blockSize-r)...)
	}
	return b
}

// sparseHeaders renders the extended header and the member header of a
// sparse file whose data part (map plus regions) is dataLen bytes. recs
// holds the entry's other records (mtime, xattrs, ...).
func sparseHeaders(name string, mode int64, uid, gid int, mtime time.Time, size, dataLen int64, recs map[string]string) ([]byte, error) {
	all := map[string]string{
		"GNU.sparse.major":    "1",
		"GNU.sparse.minor":    "0",
		"GNU.sparse.name":     name,
		"GNU.sparse.realsize": strconv.FormatInt(size, 10),
		"uid":                 strconv.Itoa(uid),
		"gid":                 strconv.Itoa(gid),
		"mtime":               formatPAXTime(mtime),
		"size":                strconv.FormatInt(dataLen, 10),
	}
	for k, v := range recs {
		all[k] = v
	}
	pax := []byte(paxRecords(all))
	base := name[strings.LastIndexByte(strings.TrimSuffix(name, "/"), '/')+1:]
	if len(base) > 60 {
		base = base[:60]
	}
	xh, err := ustarHeader{name: "./PaxHeaders/" + base, typeflag: 'x', mode: 0o644, size: int64(len(pax)), mtime: mtime}.block()
	if err != nil {
		return nil, err
	}
	mh, err := ustarHeader{name: "./GNUSparseFile.0/" + base, typeflag: '0', mode: mode, uid: uid, gid: gid,
		size: dataLen, mtime: mtime}.block()
	if err != nil {
		return nil, err
	}
	out := append(xh[:], padBlock(pax)...)
	return append(out, mh[:]...), nil
}

func formatPAXTime(t time.Time) string {
	sec, nsec := t.Unix(), t.Nanosecond()
	if sec < 0 && nsec > 0 {
		sec, nsec = sec+1, 1e9-nsec
		return "-" + strconv.FormatInt(-sec, 10) + "." + fmt.Sprintf("%09d", nsec)
	}
	return strconv.FormatInt(sec, 10) + "." + fmt.Sprintf("%09d", nsec)
}
