package archive

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// OCI image layouts (image-spec image-layout.md) and `docker save`
// archives are read as lists of layers. Everything named by their JSON is
// checked before use: a digest is an algorithm and hex of the right length,
// a path is clean and relative, a media type is a known layer or manifest
// type, and each layer's content is checked against its digest.

// ociDescriptor is an OCI content descriptor.
type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	Platform  *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform,omitempty"`
}

// ociIndex is index.json or a nested image index (or Docker manifest list).
type ociIndex struct {
	SchemaVersion int             `json:"schemaVersion"`
	Manifests     []ociDescriptor `json:"manifests"`
}

// ociManifest is an image manifest.
type ociManifest struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Layers        []ociDescriptor `json:"layers"`
}

// dockerManifest is one element of a `docker save` manifest.json.
type dockerManifest struct {
	Config string   `json:"Config"`
	Layers []string `json:"Layers"`
}

// layerRef names one layer: the path of its blob inside the layout or
// archive, and the digest its content must have ("" when the format gives
// none, as old docker save archives do).
type layerRef struct {
	Path   string
	Digest string
}

// maxJSON bounds index.json, manifests and manifest.json.
const maxJSON = 4 << 20

// maxIndexDepth bounds nested image indexes.
const maxIndexDepth = 4

const (
	mtIndex          = "application/vnd.oci.image.index.v1+json"
	mtManifest       = "application/vnd.oci.image.manifest.v1+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

func decodeJSON(r io.Reader, what string, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, maxJSON+1))
	if err != nil {
		return BadImage("read "+what, err)
	}
	if len(data) > maxJSON {
		return fmt.Errorf("%w: %s is over %d MiB", ErrBadImage, what, maxJSON>>20)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %s is not valid JSON: %w", ErrBadImage, what, err)
	}
	return nil
}

// blobPath turns a digest into its path in a layout ("blobs/sha256/HEX").
func blobPath(digest string) (string, error) {
	alg, hx, ok := strings.Cut(digest, ":")
	want := map[string]int{"sha256": 64, "sha512": 128}[alg]
	if _, err := hex.DecodeString(hx); !ok || want == 0 || len(hx) != want || err != nil || strings.ToLower(hx) != hx {
		return "", fmt.Errorf("%w: digest %q is not sha256 or sha512 in lowercase hex", ErrBadImage, digest)
	}
	return "blobs/" + alg + "/" + hx, nil
}

// pickManifest chooses the manifest of this machine's platform among an
// index's (the only one if there is one; else linux/GOARCH; else the
// first without a platform).
func pickManifest(idx ociIndex, what string) (ociDescriptor, error) {
	if len(idx.Manifests) == 0 {
		return ociDescriptor{}, fmt.Errorf("%w: %s lists no manifest", ErrBadImage, what)
	}
	if len(idx.Manifests) == 1 {
		return idx.Manifests[0], nil
	}
	for _, m := range idx.Manifests {
		if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH {
			return m, nil
		}
	}
	for _, m := range idx.Manifests {
		if m.Platform == nil {
			return m, nil
		}
	}
	return ociDescriptor{}, fmt.Errorf("%w: %s has no manifest for linux/%s", ErrBadImage, what, runtime.GOARCH)
}

// isIndexType reports whether a descriptor names an image index.
func isIndexType(mt string) bool { return mt == mtIndex || mt == mtDockerList }

// checkLayerType refuses a layer the extractor cannot apply faithfully.
func checkLayerType(d ociDescriptor) error {
	mt := d.MediaType
	switch {
	case strings.Contains(mt, "encrypted"):
		return fmt.Errorf("%w: layer %s is encrypted (%s): decrypt the image first", ErrBadImage, d.Digest, mt)
	case strings.HasPrefix(mt, "application/vnd.oci.image.layer."),
		strings.HasPrefix(mt, "application/vnd.docker.image.rootfs."):
		return nil
	}
	return fmt.Errorf("%w: layer %s has media type %q, not an OCI or Docker layer", ErrBadImage, d.Digest, mt)
}

// manifestLayers checks a manifest and returns its layers.
func manifestLayers(m ociManifest, what string) ([]layerRef, error) {
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: %s has schemaVersion %d, want 2", ErrBadImage, what, m.SchemaVersion)
	}
	if len(m.Layers) == 0 {
		return nil, fmt.Errorf("%w: %s lists no layer", ErrBadImage, what)
	}
	var out []layerRef
	for _, l := range m.Layers {
		if err := checkLayerType(l); err != nil {
			return nil, err
		}
		p, err := blobPath(l.Digest)
		if err != nil {
			return nil, err
		}
		out = append(out, layerRef{Path: p, Digest: l.Digest})
	}
	return out, nil
}

// dockerLayers reads a `docker save` manifest.json (its first image).
func dockerLayers(r io.Reader) ([]layerRef, error) {
	var ms []dockerManifest
	if err := decodeJSON(r, "manifest.json", &ms); err != nil {
		return nil, err
	}
	if len(ms) == 0 || len(ms[0].Layers) == 0 {
		return nil, fmt.Errorf("%w: manifest.json lists no image with layers", ErrBadImage)
	}
	var out []layerRef
	for _, l := range ms[0].Layers {
		p, err := CleanName(l)
		if err != nil || p == "." {
			return nil, fmt.Errorf("%w: manifest.json names layer %q, not a path inside the archive", ErrBadImage, l)
		}
		ref := layerRef{Path: p}
		// Newer docker save archives are OCI layouts: blobs/ALG/HEX.
		if rest, ok := strings.CutPrefix(p, "blobs/"); ok {
			alg, hx, _ := strings.Cut(rest, "/")
			if _, err := blobPath(alg + ":" + hx); err == nil {
				ref.Digest = alg + ":" + hx
			}
		}
		out = append(out, ref)
	}
	return out, nil
}

// IsLayoutDir reports whether the directory p (described by fi) is an OCI
// image layout, which images/ may hold beside image files.
func IsLayoutDir(p string, fi os.FileInfo) bool {
	if !fi.IsDir() {
		return false
	}
	_, err := os.Stat(p + "/oci-layout")
	return err == nil
}
