package fetch

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// MaxLayers is the most layers a pulled image may have: package archive's
// own bound (Docker's is 125), checked before anything is downloaded.
const MaxLayers = 128

// parallelLayers is how many layers download at once.
const parallelLayers = 4

// ociReference parses docker://REGISTRY/REPO:TAG or @sha256:...
func ociReference(source string) (name.Reference, error) {
	s, _ := strings.CutPrefix(source, "docker://")
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("%s: not an OCI reference (docker://REGISTRY/REPO:TAG or @sha256:...): %w", source, err)
	}
	return ref, nil
}

// auth is the registry's credentials: --creds, else the user's docker
// config.json (DOCKER_CONFIG, ~/.docker/config.json) and its helpers.
func (o *Options) auth(ref name.Reference) (authn.Authenticator, error) {
	if o.Creds != "" {
		user, pass, ok := strings.Cut(o.Creds, ":")
		if !ok {
			return nil, fmt.Errorf("--creds: give USER:PASSWORD")
		}
		return authn.FromConfig(authn.AuthConfig{Username: user, Password: pass}), nil
	}
	a, err := authn.DefaultKeychain.Resolve(ref.Context())
	if err != nil {
		return nil, fmt.Errorf("read your docker config for %s: %w", ref.Context().RegistryStr(), err)
	}
	return a, nil
}

// registryError puts a registry's refusal in a user's words.
func registryError(ref name.Reference, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%s refuses %s without credentials it accepts: log in with docker login (your config.json) or pass --creds USER:PASSWORD: %w",
			ref.Context().RegistryStr(), ref.Context().RepositoryStr(), err)
	}
	return fmt.Errorf("%s: %w", ref, err)
}

// platform is this machine's, as image indexes name it.
func platform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		p.Variant = "v7"
	}
	return p
}

// ociImage is an image of a registry, resolved to this platform's
// manifest.
type ociImage struct {
	ref      name.Reference
	manifest []byte
	digest   v1.Hash
	parsed   *v1.Manifest
	config   []byte
	client   *http.Client // authenticated to the repository
}

// resolveOCI fetches the manifest (through an index, for this platform)
// and the config, and checks them before any layer is fetched.
func (o *Options) resolveOCI(ctx context.Context, source string) (*Plan, error) {
	ref, err := ociReference(source)
	if err != nil {
		return nil, err
	}
	a, err := o.auth(ref)
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{remote.WithAuth(a), remote.WithContext(ctx), remote.WithTransport(o.transport()), remote.WithPlatform(platform())}
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, registryError(ref, err)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, registryError(ref, err)
	}
	im := &ociImage{ref: ref}
	if im.manifest, err = img.RawManifest(); err != nil {
		return nil, registryError(ref, err)
	}
	if im.parsed, err = v1.ParseManifest(strings.NewReader(string(im.manifest))); err != nil {
		return nil, fmt.Errorf("%s: the manifest is not valid: %w", ref, err)
	}
	sum := sha256.Sum256(im.manifest)
	im.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	if err := checkManifest(ref, im.parsed); err != nil {
		return nil, err
	}
	if im.config, err = img.RawConfigFile(); err != nil {
		return nil, registryError(ref, err)
	}
	if c := sha256.Sum256(im.config); hex.EncodeToString(c[:]) != im.parsed.Config.Digest.Hex {
		return nil, fmt.Errorf("%s: %w: the config is not the one the manifest names", ref, ErrDigest)
	}
	rt, err := transport.NewWithContext(ctx, ref.Context().Registry, a, o.transport(), []string{ref.Scope(transport.PullScope)})
	if err != nil {
		return nil, registryError(ref, err)
	}
	im.client = &http.Client{Transport: rt}
	var total int64
	for _, l := range im.parsed.Layers {
		total += l.Size
	}
	return &Plan{Source: source, Digest: im.digest.String(), Name: ociImageName(ref), Size: total,
		fetch: im.fetch}, nil
}

// checkManifest refuses what would not make a root filesystem, or would
// cost without bound, before anything is downloaded.
func checkManifest(ref name.Reference, m *v1.Manifest) error {
	if len(m.Layers) == 0 {
		return fmt.Errorf("%s: the image has no layers", ref)
	}
	if len(m.Layers) > MaxLayers {
		return fmt.Errorf("%s: the image has %d layers, more than the %d initns applies", ref, len(m.Layers), MaxLayers)
	}
	for _, l := range m.Layers {
		if l.Digest.Algorithm != "sha256" || len(l.Digest.Hex) != 64 || l.Size < 0 {
			return fmt.Errorf("%s: layer %s: only sha256 digests of a known size are pulled", ref, l.Digest)
		}
		switch l.MediaType {
		case types.OCILayer, types.OCIUncompressedLayer, types.OCILayerZStd, types.DockerLayer, types.DockerUncompressedLayer:
		default:
			return fmt.Errorf("%s: layer %s has media type %q, not a layer initns can apply", ref, l.Digest, l.MediaType)
		}
	}
	return nil
}

// ociImageName is the image name a pull gives by default:
// REPO-TAG.oci.tar (the last element of the repository).
func ociImageName(ref name.Reference) string {
	repo := ref.Context().RepositoryStr()
	repo = repo[strings.LastIndex(repo, "/")+1:]
	id := ref.Identifier()
	if d, ok := strings.CutPrefix(id, "sha256:"); ok {
		id = d[:12]
	}
	return sanitize(repo+"-"+id) + ".oci.tar"
}

// fetch downloads the layers in parallel into the cache and writes the
// OCI image layout archive of the image there.
func (im *ociImage) fetch(ctx context.Context, o *Options, counted func(int64)) (Download, error) {
	paths := make([]string, len(im.parsed.Layers))
	errs := make([]error, len(im.parsed.Layers))
	sem := make(chan struct{}, parallelLayers)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	count := func(n int64) { mu.Lock(); counted(n); mu.Unlock() }
	reg := im.ref.Context()
	for i, l := range im.parsed.Layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			url := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", reg.Scheme(), reg.RegistryStr(), reg.RepositoryStr(), l.Digest)
			paths[i], errs[i] = o.download(ctx, blob{url: url, sha256: l.Digest.Hex, size: l.Size, client: im.client}, count)
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return Download{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return Download{}, err
	}
	return Download{WriteLayout: func(w io.Writer) error { return im.writeLayout(w, paths) }, Cached: paths}, nil
}

// writeLayout writes the OCI image layout archive (oci-layout,
// index.json, blobs/sha256/...) of the image into w, the layers from the
// verified files at paths.
func (im *ociImage) writeLayout(w io.Writer, paths []string) error {
	if im.parsed.MediaType == "" {
		return fmt.Errorf("%s: the manifest names no media type", im.ref)
	}
	tw := tar.NewWriter(w)
	index, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{{
		MediaType: im.parsed.MediaType, Digest: im.digest, Size: int64(len(im.manifest)),
		Platform:    &v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Annotations: map[string]string{"org.opencontainers.image.ref.name": im.ref.Identifier()},
	}}})
	members := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"blobs/sha256/" + im.digest.Hex, im.manifest},
		{"blobs/sha256/" + im.parsed.Config.Digest.Hex, im.config},
	}
	for _, m := range members {
		if err := writeMember(tw, m.name, int64(len(m.data)), strings.NewReader(string(m.data))); err != nil {
			return err
		}
	}
	done := map[string]bool{}
	for i, l := range im.parsed.Layers {
		if done[l.Digest.Hex] {
			continue // a layer listed twice is stored once
		}
		done[l.Digest.Hex] = true
		lf, err := os.Open(paths[i])
		if err != nil {
			return err
		}
		err = writeMember(tw, "blobs/sha256/"+l.Digest.Hex, l.Size, lf)
		lf.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeMember(tw *tar.Writer, name string, size int64, r io.Reader) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: 0o644, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("write the layout archive: %w", err)
	}
	if _, err := io.Copy(tw, r); err != nil {
		return fmt.Errorf("write the layout archive: %w", err)
	}
	return nil
}
