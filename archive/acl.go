package archive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os/user"
	"sort"
	"strconv"
	"strings"
)

// POSIX ACLs travel in tar as GNU tar's text records SCHILY.acl.access and
// SCHILY.acl.default ("user::rw-\nuser:1000:r--\ngroup::r--\nmask::r--\n
// other::r--\n") and live in the kernel as the binary xattrs
// system.posix_acl_access / system.posix_acl_default (version 2, then
// entries of tag u16, perm u16, id u32, little endian).

const (
	aclXattrAccess  = "system.posix_acl_access"
	aclXattrDefault = "system.posix_acl_default"
	aclVersion      = 2
	aclUndefinedID  = 0xffffffff
	maxACLEntries   = 8191 // what fits in an xattr value of 64 KiB
)

const (
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20
)

type aclEntry struct {
	tag  uint16
	perm uint16
	id   uint32
}

var errACL = errors.New("malformed ACL")

// aclTextToXattr converts an ACL in text form to the kernel's xattr value.
// Names are looked up in the host's user and group databases, as GNU tar
// does; numeric ids are taken as they are.
func aclTextToXattr(text string) ([]byte, error) {
	var ents []aclEntry
	for _, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ',' }) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		e, err := parseACLEntry(strings.TrimPrefix(line, "default:"))
		if err != nil {
			return nil, err
		}
		ents = append(ents, e)
	}
	if len(ents) == 0 || len(ents) > maxACLEntries {
		return nil, fmt.Errorf("%w: %d entries", errACL, len(ents))
	}
	sort.SliceStable(ents, func(i, j int) bool {
		if ents[i].tag != ents[j].tag {
			return ents[i].tag < ents[j].tag
		}
		return ents[i].id < ents[j].id
	})
	buf := make([]byte, 4, 4+8*len(ents))
	binary.LittleEndian.PutUint32(buf, aclVersion)
	for _, e := range ents {
		buf = binary.LittleEndian.AppendUint16(buf, e.tag)
		buf = binary.LittleEndian.AppendUint16(buf, e.perm)
		buf = binary.LittleEndian.AppendUint32(buf, e.id)
	}
	return buf, nil
}

func parseACLEntry(s string) (aclEntry, error) {
	f := strings.Split(s, ":")
	if len(f) < 3 {
		return aclEntry{}, fmt.Errorf("%w: entry %q", errACL, s)
	}
	perm, err := parseACLPerm(f[2])
	if err != nil {
		return aclEntry{}, fmt.Errorf("%w: entry %q", errACL, s)
	}
	e := aclEntry{perm: perm, id: aclUndefinedID}
	switch kind, q := f[0], f[1]; {
	case (kind == "user" || kind == "u") && q == "":
		e.tag = aclUserObj
	case kind == "user" || kind == "u":
		e.tag = aclUser
		e.id, err = aclID(q, true)
	case (kind == "group" || kind == "g") && q == "":
		e.tag = aclGroupObj
	case kind == "group" || kind == "g":
		e.tag = aclGroup
		e.id, err = aclID(q, false)
	case (kind == "mask" || kind == "m") && q == "":
		e.tag = aclMask
	case (kind == "other" || kind == "o") && q == "":
		e.tag = aclOther
	default:
		err = fmt.Errorf("%w: entry %q", errACL, s)
	}
	return e, err
}

func parseACLPerm(s string) (uint16, error) {
	var p uint16
	for _, c := range s {
		switch c {
		case 'r':
			p |= 4
		case 'w':
			p |= 2
		case 'x':
			p |= 1
		case '-':
		default:
			return 0, errACL
		}
	}
	return p, nil
}

// aclID resolves an ACL qualifier: a number, or a user or group name known
// to this host.
func aclID(q string, isUser bool) (uint32, error) {
	if n, err := strconv.ParseUint(q, 10, 32); err == nil && n != aclUndefinedID {
		return uint32(n), nil
	}
	var id string
	var err error
	if isUser {
		var u *user.User
		if u, err = user.Lookup(q); err == nil {
			id = u.Uid
		}
	} else {
		var g *user.Group
		if g, err = user.LookupGroup(q); err == nil {
			id = g.Gid
		}
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a user or group of this host: %v", errACL, q, err)
	}
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %q has id %q", errACL, q, id)
	}
	return uint32(n), nil
}

// aclXattrToText renders a kernel ACL xattr value in GNU tar's text form,
// with numeric ids so that it restores the same on any host.
func aclXattrToText(b []byte) (string, error) {
	if len(b) < 4 || (len(b)-4)%8 != 0 || binary.LittleEndian.Uint32(b) != aclVersion {
		return "", errACL
	}
	var sb strings.Builder
	for p := 4; p < len(b); p += 8 {
		tag := binary.LittleEndian.Uint16(b[p:])
		perm := binary.LittleEndian.Uint16(b[p+2:])
		id := binary.LittleEndian.Uint32(b[p+4:])
		var kind, q string
		switch tag {
		case aclUserObj:
			kind = "user"
		case aclUser:
			kind, q = "user", strconv.FormatUint(uint64(id), 10)
		case aclGroupObj:
			kind = "group"
		case aclGroup:
			kind, q = "group", strconv.FormatUint(uint64(id), 10)
		case aclMask:
			kind = "mask"
		case aclOther:
			kind = "other"
		default:
			return "", errACL
		}
		fmt.Fprintf(&sb, "%s:%s:%s\n", kind, q, permText(perm))
	}
	return sb.String(), nil
}

func permText(p uint16) string {
	b := []byte("---")
	if p&4 != 0 {
		b[0] = 'r'
	}
	if p&2 != 0 {
		b[1] = 'w'
	}
	if p&1 != 0 {
		b[2] = 'x'
	}
	return string(b)
}
