package pid1

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"

	"initns/archive"
)

// maxModuleSize bounds a decompressed module (the largest in-tree modules,
// GPU drivers, are under 100 MiB).
const maxModuleSize = 256 << 20

// decompress returns the module image of a module file's content, by the
// file's suffix: ".ko" as it is, ".ko.xz" and ".ko.zst" decompressed
// (init_module takes only a plain image; finit_module's own decompression
// is not in every kernel).
func decompress(name string, r io.Reader) ([]byte, error) {
	var dr io.Reader
	switch {
	case strings.HasSuffix(name, ".ko"):
		dr = r
	case strings.HasSuffix(name, ".ko.xz"):
		// The images' xz decoder, with its bound on the dictionary: one
		// xz decoder in the binary, and no allocation a module file
		// names.
		x, err := archive.NewXZReader(r)
		if err != nil {
			return nil, fmt.Errorf("xz %s: %w", name, err)
		}
		dr = x
	case strings.HasSuffix(name, ".ko.zst"):
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd %s: %w", name, err)
		}
		defer z.Close()
		dr = z
	default:
		return nil, fmt.Errorf("module %s: unknown compression (want .ko, .ko.xz or .ko.zst)", name)
	}
	var b bytes.Buffer
	n, err := io.Copy(&b, io.LimitReader(dr, maxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", name, err)
	}
	if n > maxModuleSize {
		return nil, fmt.Errorf("module %s: larger than %d bytes decompressed", name, maxModuleSize)
	}
	return b.Bytes(), nil
}
