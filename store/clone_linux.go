package store

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"initns/archive"
)

// Clone makes dst a copy of the stopped instance src. A plain instance's
// tree is copied by copyTree (reflinks where the file system can, else a
// faithful copy) into scratch/, synced, and renamed into place; an overlay
// instance's upper layer is copied the same way over the same lower layer,
// which gains a reference. The registry line is the commit point, as for
// New: on failure or crash nothing of dst is left. It fails with
// ErrNotExist (src), ErrExist (dst), ErrBusy; checking that src is stopped
// is the caller's job.
func (s *Store) Clone(ctx context.Context, src, dst string, p Progress) error {
	release, err := s.reserveMove(src, dst)
	if err != nil {
		return err
	}
	defer release()
	in, err := s.Instance(src)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if in.Overlay {
		err = s.cloneOverlay(ctx, in, dst)
	} else {
		err = s.clonePlain(ctx, in, dst)
	}
	if err != nil {
		return fmt.Errorf("clone %s to %s: %w", src, dst, err)
	}
	if p != nil {
		p(in.Size, in.Size)
	}
	return nil
}

func (s *Store) clonePlain(ctx context.Context, in Instance, dst string) error {
	job, err := s.scratchJob(rootfsDir, "clone-"+dst)
	if err != nil {
		return err
	}
	defer removeTree(job)
	root := filepath.Join(job, "root")
	if err := copyTree(ctx, s.RootfsPath(in.Name), root); err != nil {
		return err
	}
	if err := archive.SyncFS(root); err != nil {
		return err
	}
	in.Name, in.Overlay = dst, false
	return s.commitNew(in, archive.Result{Root: root, Size: in.Size})
}

func (s *Store) cloneOverlay(ctx context.Context, in Instance, dst string) error {
	key, err := s.layerKey(in.Name)
	if err != nil {
		return err
	}
	unlock := s.lockLower(key)
	err = s.placeLayer(ctx, dst, key, filepath.Join(s.overlayPath(in.Name), layerUpper))
	unlock()
	if err != nil {
		return err
	}
	// A copy of the system: the same init, and the user's settings for it.
	out := in
	out.Name, out.Created, out.Overlay = dst, time.Now().UTC().Truncate(time.Second), true
	return s.mountAndRegister(out)
}
