package archive

import (
	"fmt"
	"strings"
)

const (
	maxPathLen  = 4095 // PATH_MAX less the terminating NUL
	maxNameLen  = 255  // NAME_MAX
	maxDepth    = 1024 // nesting levels accepted in an image
	maxLinkname = 4095
)

// CleanName turns an archive member name into a path relative to the
// new root: leading "/" and "./" are dropped, empty and "." components
// removed. It refuses ".." components outright (rather than resolving them)
// and names longer than the kernel accepts. The root itself is ".".
func CleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: entry %q: the name contains a NUL byte", ErrBadImage, name)
	}
	if len(name) > maxPathLen {
		return "", fmt.Errorf("%w: entry %.64q...: the name is %d bytes long, over the limit of %d",
			ErrBadImage, name, len(name), maxPathLen)
	}
	parts := make([]string, 0, strings.Count(name, "/")+1)
	for _, p := range strings.Split(name, "/") {
		switch {
		case p == "" || p == ".":
		case p == "..":
			return "", fmt.Errorf("%w: entry %q: \"..\" in a name could reach outside the root filesystem; refusing the image",
				ErrBadImage, name)
		case len(p) > maxNameLen:
			return "", fmt.Errorf("%w: entry %q: a component is %d bytes long, over the limit of %d",
				ErrBadImage, name, len(p), maxNameLen)
		default:
			parts = append(parts, p)
		}
	}
	if len(parts) > maxDepth {
		return "", fmt.Errorf("%w: entry %.64q...: nested %d levels deep, over the limit of %d",
			ErrBadImage, name, len(parts), maxDepth)
	}
	if len(parts) == 0 {
		return ".", nil
	}
	return strings.Join(parts, "/"), nil
}

// SplitName splits a clean name into its parent ("." for the root) and
// base name.
func SplitName(name string) (parent, base string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ".", name
	}
	return name[:i], name[i+1:]
}

// TopOf returns the first component of a clean name.
func TopOf(name string) string {
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return name
}

// fhsTop lists the top-level directories of a root filesystem: an image
// holding only one of these is a partial root, never a wrapper to unwrap.
var fhsTop = map[string]bool{
	"bin": true, "boot": true, "dev": true, "etc": true, "home": true, "lib": true,
	"lib32": true, "lib64": true, "libx32": true, "media": true, "mnt": true, "opt": true,
	"proc": true, "root": true, "run": true, "sbin": true, "srv": true, "sys": true,
	"tmp": true, "usr": true, "var": true,
}

// IsFHSTop reports whether top is a top-level directory of a root
// filesystem (etc, usr, ...), which Extract never unwraps.
func IsFHSTop(top string) bool { return fhsTop[top] }

// JoinName joins a clean relative name and one more component; dir "."
// is the root.
func JoinName(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}
