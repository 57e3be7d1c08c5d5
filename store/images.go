package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"initns/archive"
)

// Images returns the files of images/ with a valid image name, and the OCI
// image layout directories there, sorted by name. Images being written by
// Seed or Commit are not listed: they live in scratch/ until complete.
func (s *Store) Images() ([]Image, error) {
	ents, err := os.ReadDir(s.path(imagesDir))
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := []Image{}
	s.originMu.Lock()
	origins := s.readOrigins()
	s.originMu.Unlock()
	for _, e := range ents {
		if ValidImageName(e.Name()) != nil {
			continue
		}
		fi, err := os.Stat(s.ImagePath(e.Name()))
		if err != nil || !fi.Mode().IsRegular() && !archive.IsLayoutDir(s.ImagePath(e.Name()), fi) {
			continue
		}
		img := Image{Name: e.Name(), Size: fi.Size(), Modified: fi.ModTime()}
		if o, ok := origins[img.Name]; ok && o.matches(fi) {
			img.Origin = &o
		}
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Seed snapshots the directory tree dir (an absolute host path) into the new
// image images/<image>, formatted by the image name's suffix: .tar,
// .tar.gz/.tgz (parallel gzip) or .tar.zst. It stays on dir's file system
// and leaves out the state root. It refuses an existing image (ErrExist)
// and is atomic: the image is written and synced in scratch/, then linked
// into images/ (which fails rather than overwrite). Progress counts the
// bytes of file content read; the total is unknown (-1).
func (s *Store) Seed(ctx context.Context, dir, image string, p Progress) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("seed directory %q: give an absolute path", dir)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("seed directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("seed directory %s: not a directory", dir)
	}
	return s.writeImage(ctx, dir, image, archive.NewCounter(p, -1))
}

// Commit snapshots the root filesystem of instance name into the new image
// images/<image>, as Seed does. The instance is marked busy meanwhile, so
// Remove fails with ErrBusy; freezing a running instance around the call is
// the caller's job. Progress estimates its total from the instance's
// recorded size.
func (s *Store) Commit(ctx context.Context, name, image string, p Progress) error {
	if err := s.reserveExisting(name); err != nil {
		return err
	}
	defer s.release(name)
	in, _ := s.Instance(name)
	if err := s.ensureMounted(in); err != nil {
		return err
	}
	total := in.Size
	if total <= 0 {
		total = -1
	}
	return s.writeImage(ctx, s.RootfsPath(name), image, archive.NewCounter(p, total))
}

// writeImage archives dir into images/<image> atomically.
func (s *Store) writeImage(ctx context.Context, dir, image string, pc *archive.Counter) error {
	if err := ValidImageName(image); err != nil {
		return err
	}
	format, ok := archive.FormatOf(image)
	if !ok {
		return fmt.Errorf("image name %q: %w: end it in .tar, .tar.gz, .tgz or .tar.zst to choose the format", image, ErrInvalidName)
	}
	if err := s.reserveImage(image); err != nil {
		return err
	}
	defer s.releaseImage(image)
	skip, err := s.rootID()
	if err != nil {
		return err
	}
	err = s.publishImage(image, func(tmp *os.File) error {
		if err := archive.WriteImage(ctx, dir, tmp, format, skip, pc); err != nil {
			return fmt.Errorf("image %s from %s: %w", image, dir, err)
		}
		return nil
	}, nil)
	if err == nil {
		pc.Finish()
	}
	return err
}

// publishImage makes the new image images/<image> atomically: fill writes
// it into a file in scratch/, which is synced, handed to before (if not
// nil) and then linked into images/. The caller holds the image's
// reservation.
func (s *Store) publishImage(image string, fill, before func(tmp *os.File) error) error {
	scratch, err := s.scratchFor(imagesDir)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(scratch, "image-"+image+".")
	if err != nil {
		return fmt.Errorf("scratch folder: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := fill(tmp); err != nil {
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("image %s: sync: %w", image, err)
	}
	if before != nil {
		if err := before(tmp); err != nil {
			return err
		}
	}
	// link(2) fails if the name exists: no overwrite, even if another
	// process made it meanwhile.
	if err := os.Link(tmp.Name(), s.ImagePath(image)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return imageExists(image)
		}
		return fmt.Errorf("image %s: %w", image, err)
	}
	return syncDir(s.path(imagesDir))
}

func (s *Store) reserveImage(image string) error {
	s.mu.Lock()
	if s.imgIn[image] {
		s.mu.Unlock()
		return fmt.Errorf("image %q is %w: it is being written; wait for it", image, ErrBusy)
	}
	s.imgIn[image] = true
	s.mu.Unlock()
	if _, err := os.Lstat(s.ImagePath(image)); err == nil {
		s.releaseImage(image)
		return imageExists(image)
	}
	return nil
}

func (s *Store) releaseImage(image string) { s.unmark(s.imgIn, image) }

func imageExists(image string) error {
	return fmt.Errorf("image %q %w: choose another name or delete the file first", image, ErrExist)
}
