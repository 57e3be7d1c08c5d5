package archive

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"initns/archive/internal/gz"
)

// ErrBadImage: an image is corrupt, truncated, not a tar archive, or
// hostile (an entry tries to reach outside the new root filesystem).
// Package store hands out the same value as store.ErrBadImage.
var ErrBadImage = errors.New("bad image")

// CorruptError is what the gzip decoder reports of data it cannot decode,
// with the offset in the compressed stream: errors.As finds it in an error
// of Extract or ExtractImage for a corrupt .tar.gz (not with
// INITNS_GZIP=klauspost, whose decoder reports its own errors).
type CorruptError = gz.CorruptError

// BadImage wraps cause, an error met reading the image, in ErrBadImage
// after what, keeping both reachable (%w twice). An error of the disk is
// the machine's, not the image's: it is returned with what but without
// ErrBadImage, so the user looks at the disk, not at the image.
func BadImage(what string, cause error) error {
	if diskError(cause) {
		return fmt.Errorf("%s: %w", what, cause)
	}
	return fmt.Errorf("%w: %s: %w", ErrBadImage, what, cause)
}

// diskError reports an error of the storage under a file rather than of
// its content: a failing disk (EIO), a full one (ENOSPC) or a quota
// (EDQUOT).
func diskError(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}
