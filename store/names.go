package store

import "fmt"

const (
	maxInstanceName = 64
	maxImageName    = 128
)

// ValidInstanceName reports whether name is a valid instance name (SPEC §3):
// 1–64 characters of [A-Za-z0-9_.-], not starting with '.' or '-'. The
// error wraps ErrInvalidName and says what is allowed.
func ValidInstanceName(name string) error {
	return validName("instance", name, maxInstanceName)
}

// ValidImageName reports whether name is a valid image name (SPEC §3): a
// plain file name in images/ of 1–128 characters of [A-Za-z0-9_.-], not
// starting with '.' or '-'. The error wraps ErrInvalidName.
func ValidImageName(name string) error {
	return validName("image", name, maxImageName)
}

func validName(kind, name string, max int) error {
	ok := len(name) >= 1 && len(name) <= max && name[0] != '.' && name[0] != '-'
	for i := 0; ok && i < len(name); i++ {
		ok = nameChar(name[i])
	}
	if !ok {
		return fmt.Errorf("%s name %q: %w: use 1-%d characters of A-Z a-z 0-9 _ . - not starting with . or -",
			kind, name, ErrInvalidName, max)
	}
	return nil
}

func nameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == '-'
}
