package archive

import (
	"archive/tar"
	"fmt"
	"sort"
	"strings"
	"time"
)

const (
	paxXattr      = "SCHILY.xattr."
	paxACLAccess  = "SCHILY.acl.access"
	paxACLDefault = "SCHILY.acl.default"
	maxXattrName  = 255
	maxXattrValue = 64 << 10 // XATTR_SIZE_MAX
)

// attrs is the metadata of one entry as the kernel will get it.
type attrs struct {
	uid, gid int
	mode     uint32 // permission, setuid, setgid and sticky bits
	mtime    time.Time
	atime    time.Time // zero: leave the access time alone
	xattrs   []xattr   // in the order they are set; ACLs included
}

type xattr struct {
	name  string
	value []byte
}

// attrsOf reads an entry's metadata, converting GNU tar's ACL text records
// to the kernel's xattrs when the binary form is not recorded as well.
func attrsOf(hdr *tar.Header) (attrs, error) {
	a := attrs{uid: hdr.Uid, gid: hdr.Gid, mode: uint32(hdr.Mode) & 0o7777, mtime: hdr.ModTime, atime: hdr.AccessTime}
	if hdr.Uid < 0 || hdr.Gid < 0 || hdr.Uid > 1<<32-2 || hdr.Gid > 1<<32-2 {
		return a, fmt.Errorf("%w: entry %q: owner %d:%d is out of range", ErrBadImage, hdr.Name, hdr.Uid, hdr.Gid)
	}
	keys := make([]string, 0, len(hdr.PAXRecords))
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, paxXattr) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // deterministic, and security.capability before user.*
	have := map[string]bool{}
	for _, k := range keys {
		name, v := strings.TrimPrefix(k, paxXattr), hdr.PAXRecords[k]
		if name == "" || len(name) > maxXattrName || len(v) > maxXattrValue {
			return a, fmt.Errorf("%w: entry %q: extended attribute %.64q is malformed or over the kernel's size limit",
				ErrBadImage, hdr.Name, name)
		}
		have[name] = true
		a.xattrs = append(a.xattrs, xattr{name, []byte(v)})
	}
	for rec, name := range map[string]string{paxACLAccess: aclXattrAccess, paxACLDefault: aclXattrDefault} {
		text, ok := hdr.PAXRecords[rec]
		if !ok || have[name] || strings.TrimSpace(text) == "" {
			continue
		}
		v, err := aclTextToXattr(text)
		if err != nil {
			return a, fmt.Errorf("%w: entry %q: %s: %w", ErrBadImage, hdr.Name, rec, err)
		}
		if name == aclXattrAccess && len(v) == 4+3*8 {
			continue // user::, group::, other:: only: the mode says it all
		}
		a.xattrs = append(a.xattrs, xattr{name, v})
	}
	return a, nil
}
