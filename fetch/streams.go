package fetch

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"runtime"
	"strings"
)

// The simplestreams protocol as LXD and Incus image servers publish it:
// streams/v1/index.json names the products file (datatype
// image-downloads), whose products carry aliases, an architecture and
// versions; each version's items are files with a type, a path relative
// to the server's base, a size and a SHA-256.

// maxIndex bounds an index or products file (the public server's is a
// few MiB).
const maxIndex = 64 << 20

type streamsIndex struct {
	Index map[string]struct {
		Datatype string `json:"datatype"`
		Path     string `json:"path"`
	} `json:"index"`
}

type streamsProducts struct {
	Products map[string]struct {
		Aliases  string `json:"aliases"`
		Arch     string `json:"arch"`
		Versions map[string]struct {
			Items map[string]streamsItem `json:"items"`
		} `json:"versions"`
	} `json:"products"`
}

type streamsItem struct {
	Ftype  string `json:"ftype"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// rootfsTypes are the item types that hold a root filesystem tarball.
var rootfsTypes = []string{"root.tar.xz", "rootfs.tar.xz"}

// streamsArch is the architecture names of simplestreams servers, by
// GOARCH.
func streamsArch(goarch string) string {
	switch goarch {
	case "arm":
		return "armhf"
	case "386":
		return "i386"
	case "ppc64le":
		return "ppc64el"
	}
	return goarch
}

// isStreamsArch reports whether s names an architecture, as the last
// element of an alias may (alpine/3.20/amd64).
func isStreamsArch(s string) bool {
	switch s {
	case "amd64", "arm64", "armhf", "i386", "ppc64el", "s390x", "riscv64", "loongarch64":
		return true
	}
	return false
}

// resolveStreams finds alias on the server at base: the newest version,
// for this machine's architecture unless the alias ends in one, of the
// product the alias names, and its root filesystem tarball.
func (o *Options) resolveStreams(ctx context.Context, source, base, alias string) (*Plan, error) {
	arch := streamsArch(runtime.GOARCH)
	if i := strings.LastIndex(alias, "/"); i > 0 && isStreamsArch(alias[i+1:]) {
		alias, arch = alias[:i], alias[i+1:]
	}
	var idx streamsIndex
	if err := o.getJSON(ctx, base, "streams/v1/index.json", &idx); err != nil {
		return nil, err
	}
	var prods streamsProducts
	found := false
	for _, e := range idx.Index {
		if e.Datatype == "image-downloads" {
			if err := o.getJSON(ctx, base, e.Path, &prods); err != nil {
				return nil, err
			}
			found = true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: the server's index names no image-downloads products", base)
	}
	item, version, err := pickItem(prods, alias, arch)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	u, err := inside(base, item.Path)
	if err != nil {
		return nil, err
	}
	b := blob{url: u, sha256: strings.ToLower(item.SHA256), size: item.Size, client: o.client()}
	if len(b.sha256) != 64 || item.Size <= 0 {
		return nil, fmt.Errorf("%s: item %s has no SHA-256 or size", source, item.Path)
	}
	ext := strings.TrimPrefix(item.Ftype, "root")
	ext = strings.TrimPrefix(ext, "fs")
	name := sanitize(strings.ReplaceAll(alias, "/", "-")+"-"+arch+"-"+version) + ext
	return &Plan{Source: source, Digest: "sha256:" + b.sha256, Name: name, Size: item.Size, fetch: b.fetch}, nil
}

// pickItem is the root filesystem item of the newest version of the
// product whose aliases hold alias, for arch.
func pickItem(prods streamsProducts, alias, arch string) (streamsItem, string, error) {
	var best streamsItem
	bestVersion, other := "", ""
	for _, p := range prods.Products {
		if !hasAlias(p.Aliases, alias) {
			continue
		}
		if p.Arch != arch {
			other = p.Arch
			continue
		}
		for v, ver := range p.Versions {
			for _, t := range rootfsTypes {
				for _, it := range ver.Items {
					if it.Ftype == t && v > bestVersion {
						best, bestVersion = it, v
					}
				}
			}
		}
	}
	switch {
	case bestVersion != "":
		return best, bestVersion, nil
	case other != "":
		return best, "", fmt.Errorf("no image %s for %s (there is one for %s: say %s/%s)", alias, arch, other, alias, other)
	}
	return best, "", fmt.Errorf("no image %s with a root filesystem tarball on this server", alias)
}

func hasAlias(list, alias string) bool {
	for _, a := range strings.Split(list, ",") {
		if strings.TrimSpace(a) == alias {
			return true
		}
	}
	return false
}

// inside resolves rel against the server's base URL, refusing what
// leaves the server's tree: an absolute URL or path, a ".." element.
func inside(base, rel string) (string, error) {
	clean := path.Clean(rel)
	if rel == "" || strings.Contains(rel, "://") || strings.HasPrefix(rel, "/") || strings.ContainsAny(rel, "?#\\") ||
		clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%s: the index points at %q, outside the server's tree: refused", base, rel)
	}
	return strings.TrimSuffix(base, "/") + "/" + clean, nil
}

func (o *Options) getJSON(ctx context.Context, base, rel string, v any) error {
	u, err := inside(base, rel)
	if err != nil {
		return err
	}
	data, err := o.getSmall(ctx, u, maxIndex)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: not a simplestreams index: %w", u, err)
	}
	return nil
}
