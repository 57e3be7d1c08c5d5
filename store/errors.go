package store

import (
	"errors"

	"initns/archive"
)

// Sentinel errors. Every method wraps one of them with %w together with the
// name concerned and what the user can do, so callers test with errors.Is.
var (
	// ErrExist: the instance or image already exists.
	ErrExist = errors.New("already exists")
	// ErrNotExist: the instance or image does not exist.
	ErrNotExist = errors.New("does not exist")
	// ErrInvalidName: a name breaks the rules of SPEC §3.
	ErrInvalidName = errors.New("invalid name")
	// ErrBadImage: an image is corrupt, truncated, not a tar archive, or
	// hostile (an entry tries to reach outside the new root filesystem).
	// It is archive.ErrBadImage, which the archive engine wraps.
	ErrBadImage = archive.ErrBadImage
	// ErrBusy: another operation on the same instance or image is under way.
	ErrBusy = errors.New("busy")
)
