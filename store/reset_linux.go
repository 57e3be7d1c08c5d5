package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Reset brings the stopped instance name back to its image's pristine
// state. An overlay instance gets an empty upper layer (made beside the old
// one, swapped in atomically, remounted), which takes milliseconds; a plain
// instance is extracted again from its image into scratch/ and swapped in
// atomically. Either way a crash leaves the old or the new state whole. It
// fails with ErrNotExist (instance, or a plain instance's image, missing),
// ErrBusy, ErrBadImage; checking that the instance is stopped is the
// caller's job.
func (s *Store) Reset(ctx context.Context, name string, p Progress) error {
	if err := s.reserveExisting(name); err != nil {
		return err
	}
	defer s.release(name)
	in, err := s.Instance(name)
	if err != nil {
		return err
	}
	if in.Overlay {
		err = s.resetOverlay(name)
	} else {
		err = s.resetPlain(ctx, in, p)
	}
	if err != nil {
		return fmt.Errorf("reset %s: %w", name, err)
	}
	if p != nil {
		p(1, 1)
	}
	return nil
}

func (s *Store) resetOverlay(name string) error {
	key, err := s.layerKey(name)
	if err != nil {
		return err
	}
	defer s.lockLower(key)()
	fresh, err := s.makeLayer(context.Background(), key, "") // nothing to copy: not cancellable
	if err != nil {
		return err
	}
	if err := s.unmountOverlay(name); err != nil {
		removeTree(fresh)
		return err
	}
	if err := exchange(fresh, s.overlayPath(name)); err != nil {
		removeTree(fresh)
		s.mountOverlay(name)
		return err
	}
	// fresh now holds the old layer; overlay/.tmp-* is deleted by Open
	// should the machine stop before it is here.
	if err := syncDir(s.path(overlayDir)); err != nil {
		return err
	}
	if err := s.mountOverlay(name); err != nil {
		return err
	}
	return removeTree(fresh)
}

func (s *Store) resetPlain(ctx context.Context, in Instance, p Progress) error {
	job, err := s.scratchJob(rootfsDir, "reset-"+in.Name)
	if err != nil {
		return err
	}
	defer removeTree(job)
	res, err := s.extractImage(ctx, in.Image, filepath.Join(job, "root"), p)
	if err != nil {
		return fmt.Errorf("image %s: %w", in.Image, err)
	}
	if err := exchange(res.Root, s.RootfsPath(in.Name)); err != nil {
		return err
	}
	if err := syncDir(s.path(rootfsDir)); err != nil {
		return err
	}
	return s.updateRegistry(true, func(reg []string, meta map[string]Instance) []string {
		m := meta[in.Name]
		m.Size = res.Size
		meta[in.Name] = m
		return reg
	})
}

// exchange swaps two paths atomically (renameat2 RENAME_EXCHANGE).
func exchange(a, b string) error {
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		return &os.LinkError{Op: "exchange", Old: a, New: b, Err: err}
	}
	return nil
}
