package fetch

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"initns/archive"
)

// Push publishes the image file at path to the registry reference dst
// (docker://REGISTRY/REPO:TAG) and returns the digest of what it pushed.
// An OCI image layout archive is pushed as it is (its index, or its one
// image); a docker save archive as its image; any other image, a root
// filesystem tarball, becomes a single-layer OCI image for this machine's
// platform: gzip and zstd tarballs as they are, others compressed with
// gzip.
func (o *Options) Push(ctx context.Context, path, dst string) (string, error) {
	ref, err := ociReference(dst)
	if err != nil {
		return "", err
	}
	a, err := o.auth(ref)
	if err != nil {
		return "", err
	}
	updates := make(chan v1.Update, 16)
	go func() {
		for u := range updates {
			if o.Progress != nil {
				o.Progress(u.Complete, u.Total)
			}
		}
	}()
	opts := []remote.Option{remote.WithAuth(a), remote.WithContext(ctx), remote.WithTransport(o.transport()), remote.WithProgress(updates)}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var digest v1.Hash
	if archive.IsLayered(f) {
		digest, err = o.pushLayered(ref, f, path, opts)
	} else {
		var img v1.Image
		if img, err = singleLayer(path); err == nil {
			if digest, err = img.Digest(); err == nil {
				err = remote.Write(ref, img, opts...)
			}
		}
	}
	if err != nil {
		return "", registryError(ref, err)
	}
	return digest.String(), nil
}

// pushLayered pushes an OCI layout archive or a docker save archive.
func (o *Options) pushLayered(ref name.Reference, f *os.File, path string, opts []remote.Option) (v1.Hash, error) {
	dir, err := os.MkdirTemp(o.Cache, "push-*")
	if err != nil {
		return v1.Hash{}, err
	}
	defer os.RemoveAll(dir)
	isLayout, err := unpackLayout(f, dir)
	if err != nil {
		return v1.Hash{}, err
	}
	if !isLayout {
		img, err := tarball.ImageFromPath(path, nil)
		if err != nil {
			return v1.Hash{}, err
		}
		d, err := img.Digest()
		if err != nil {
			return d, err
		}
		return d, remote.Write(ref, img, opts...)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return v1.Hash{}, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	if len(im.Manifests) == 1 && im.Manifests[0].MediaType.IsImage() {
		img, err := idx.Image(im.Manifests[0].Digest)
		if err != nil {
			return v1.Hash{}, err
		}
		return im.Manifests[0].Digest, remote.Write(ref, img, opts...)
	}
	d, err := idx.Digest()
	if err != nil {
		return d, err
	}
	return d, remote.WriteIndex(ref, idx, opts...)
}

// unpackLayout copies the members of an OCI layout archive into dir and
// reports whether it is one (a docker save archive is not).
func unpackLayout(f *os.File, dir string) (bool, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	tr := tar.NewReader(f)
	isLayout := false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return isLayout, nil
		}
		if err != nil {
			return false, fmt.Errorf("read the image: %w", err)
		}
		name, err := archive.CleanName(hdr.Name)
		if err != nil || hdr.Typeflag != tar.TypeReg {
			continue
		}
		if name == "oci-layout" {
			isLayout = true
		}
		if name != "oci-layout" && name != "index.json" && !strings.HasPrefix(name, "blobs/") {
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return false, err
		}
		out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return false, err
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return false, err
		}
	}
}

// xzMagic starts an xz stream, which no registry media type carries.
var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0}

// singleLayer makes a root filesystem tarball into a one-layer OCI image
// for this machine's platform.
func singleLayer(path string) (v1.Image, error) {
	head := make([]byte, 6)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	io.ReadFull(f, head)
	f.Close()
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	mt := types.OCILayer
	switch {
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		mt = types.OCILayerZStd
	case bytes.Equal(head, xzMagic):
		opener = func() (io.ReadCloser, error) {
			f, err := os.Open(path)
			if err != nil {
				return nil, err
			}
			r, closeR, err := archive.Decompress(f)
			if err != nil {
				f.Close()
				return nil, err
			}
			return readCloser{r, func() error { closeR(); return f.Close() }}, nil
		}
	}
	layer, err := tarball.LayerFromOpener(opener, tarball.WithMediaType(mt), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("make a layer of the image: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Created = v1.Time{Time: time.Now().UTC()}
	cfg.Config.Cmd = []string{"/sbin/init"}
	return mutate.ConfigFile(img, cfg)
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }
