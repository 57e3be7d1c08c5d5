package store

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"initns/archive"
)

// LayoutStream is what ImportLayout's caller passes instead of a file's
// SHA-256: the stream is an OCI image layout archive, verified member by
// member.
const LayoutStream = "oci-layout"

// Bounds on a streamed layout archive: its members (oci-layout,
// index.json, blobs) and its index.
const (
	maxLayoutMembers = 2 * 128 // a manifest, a config and at most 128 layers, with room
	maxLayoutIndex   = 4 << 20
	maxLayoutTrailer = 1 << 20
)

// ImportLayout publishes the OCI image layout archive read from r (a
// client's pull, streamed: no copy of it waits in the client's cache) as
// the new image images/<image>. It is copied as it is, and refused unless
// every member is oci-layout, index.json or blobs/sha256/HEX whose content
// hashes to HEX, once each, and the index names the manifest
// origin.Digest, which the archive holds. Otherwise it is Import: atomic,
// the origin recorded before the link, a no-op for an image already
// pulled with that digest.
func (s *Store) ImportLayout(ctx context.Context, image string, r io.Reader, origin Origin, p Progress) (unchanged bool, err error) {
	if err := ValidImageName(image); err != nil {
		return false, err
	}
	want, ok := strings.CutPrefix(origin.Digest, "sha256:")
	if !ok || len(want) != 64 {
		return false, fmt.Errorf("import %s: the manifest digest %q is not sha256:HEX", image, origin.Digest)
	}
	if o, ok := s.Origin(image); ok && o.Digest == origin.Digest {
		return true, nil
	}
	if err := s.reserveImage(image); err != nil {
		return false, err
	}
	defer s.releaseImage(image)
	return false, s.publishImage(image, func(tmp *os.File) error {
		cr := archive.NewCountingReader(ctx, r, -1, p)
		if err := checkLayoutStream(io.TeeReader(cr, tmp), want); err != nil {
			return fmt.Errorf("%w: the pulled layout: %w", ErrBadImage, err)
		}
		// The end-of-archive blocks and padding, which tar.Reader leaves
		// unread: a record's worth, not a stream without end.
		n, err := io.Copy(tmp, io.LimitReader(cr, maxLayoutTrailer+1))
		if err != nil {
			return fmt.Errorf("the pulled layout: %w", err)
		}
		if n > maxLayoutTrailer {
			return fmt.Errorf("%w: the pulled layout goes on past its end", ErrBadImage)
		}
		cr.Finish()
		return nil
	}, func(tmp *os.File) error {
		return s.recordOrigin(image, tmp, origin)
	})
}

// checkLayoutStream reads an OCI layout archive and checks its members:
// known names, regular files, each blob its digest, each once, and an
// index naming the manifest manifestHex, present as a blob.
func checkLayoutStream(r io.Reader, manifestHex string) error {
	tr := tar.NewReader(r)
	seen := map[string]bool{}
	var index []byte
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name, err := archive.CleanName(hdr.Name)
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg || seen[name] || len(seen) >= maxLayoutMembers {
			return fmt.Errorf("member %s: not a regular file, twice, or past the %d members a layout has", name, maxLayoutMembers)
		}
		seen[name] = true
		switch hexsum, isBlob := strings.CutPrefix(name, "blobs/sha256/"); {
		case name == "oci-layout":
		case name == "index.json":
			if index, err = io.ReadAll(io.LimitReader(tr, maxLayoutIndex+1)); err != nil || len(index) > maxLayoutIndex {
				return fmt.Errorf("index.json: unreadable or over %d MiB", maxLayoutIndex>>20)
			}
		case isBlob && len(hexsum) == 64:
			h := sha256.New()
			if _, err := io.Copy(h, tr); err != nil {
				return err
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != hexsum {
				return fmt.Errorf("blob %s holds content of digest %s", hexsum, got)
			}
		default:
			return fmt.Errorf("member %s: not part of an OCI image layout", name)
		}
	}
	var idx struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(index, &idx); err != nil || !seen["oci-layout"] {
		return fmt.Errorf("no oci-layout, or no valid index.json")
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != "sha256:"+manifestHex || !seen["blobs/sha256/"+manifestHex] {
		return fmt.Errorf("the index does not name the manifest sha256:%s alone, or the archive lacks it", manifestHex)
	}
	return nil
}
