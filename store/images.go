package store

import (
	"fmt"
	"os"
	"sort"
)

// Images returns the files of images/ with a valid image name, sorted by
// name. Images being written by Seed or Commit are not listed: they live in
// scratch/ until complete.
func (s *Store) Images() ([]Image, error) {
	ents, err := os.ReadDir(s.path(imagesDir))
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := []Image{}
	for _, e := range ents {
		if ValidImageName(e.Name()) != nil {
			continue
		}
		fi, err := os.Stat(s.ImagePath(e.Name()))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, Image{Name: e.Name(), Size: fi.Size(), Modified: fi.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
