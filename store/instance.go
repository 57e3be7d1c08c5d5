package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"initns/archive"
)

// Instances returns every registered instance in registry order. It reads
// only memory: no file system walk.
func (s *Store) Instances() ([]Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Instance, 0, len(s.reg))
	for _, n := range s.reg {
		out = append(out, s.meta[n])
	}
	return out, nil
}

// Instance returns the registered instance name, or an error wrapping
// ErrNotExist.
func (s *Store) Instance(name string) (Instance, error) {
	if err := ValidInstanceName(name); err != nil {
		return Instance{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.meta[name]
	if !ok {
		return Instance{}, notExistInstance(name)
	}
	return in, nil
}

func notExistInstance(name string) error {
	return fmt.Errorf("instance %q %w: list instances with initns ls", name, ErrNotExist)
}

// New extracts image (a file in images/) into a new instance name. It fails
// with ErrExist if name is registered or being created, ErrNotExist if the
// image is missing, ErrBadImage if the image is corrupt or hostile.
// Extraction happens in scratch/; the tree is synced to disk, renamed to
// rootfs/<name>, and only then is the registry line written: on any failure,
// cancellation of ctx or crash, neither a root filesystem nor a registry
// line is left. When New returns nil the instance is durable.
func (s *Store) New(ctx context.Context, name, image string, p Progress) error {
	if err := s.reserveNew(name, image); err != nil {
		return err
	}
	defer s.release(name)
	f, err := os.Open(s.ImagePath(image))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("image %q %w in %s: list images with initns ls image", image, ErrNotExist, s.path(imagesDir))
	}
	if err != nil {
		return fmt.Errorf("open image: %w", err)
	}
	defer f.Close()
	job, err := s.scratchJob(rootfsDir, "new-"+name)
	if err != nil {
		return err
	}
	defer removeTree(job)
	res, err := archive.ExtractImage(ctx, f, filepath.Join(job, "root"), p)
	if err != nil {
		return fmt.Errorf("image %s: %w", image, err)
	}
	return s.commitNew(Instance{Name: name, Image: image}, res)
}

// commitNew moves an extracted, synced tree into rootfs/ and registers it
// as in (its name, image and settings; the time and size are set here).
// Registry writes are serialised by regMu; mu is held only to read and
// publish the in-memory view, never across disk I/O, so listing stays fast
// while an fsync waits for the disk.
func (s *Store) commitNew(in Instance, res archive.Result) error {
	name := in.Name
	s.regMu.Lock()
	defer s.regMu.Unlock()
	dst := s.RootfsPath(name)
	if err := renameNoReplace(res.Root, dst); err != nil {
		return fmt.Errorf("move root filesystem into place: %w", err)
	}
	if err := syncDir(s.path(rootfsDir)); err != nil {
		os.Rename(dst, res.Root)
		return fmt.Errorf("sync %s: %w", s.path(rootfsDir), err)
	}
	in.Created, in.Size = time.Now().UTC().Truncate(time.Second), res.Size
	s.mu.Lock()
	meta := cloneMeta(s.meta)
	meta[name] = in
	reg := append(append([]string(nil), s.reg...), name)
	s.mu.Unlock()
	if err := s.writeRegistry(reg, meta, true); err != nil {
		// Not committed: move the tree back into scratch, which the
		// caller removes, so the instance is not half made.
		os.Rename(dst, res.Root)
		return err
	}
	s.publish(reg, meta)
	return nil
}

func (s *Store) publish(reg []string, meta map[string]Instance) {
	s.mu.Lock()
	s.reg, s.meta = reg, meta
	s.mu.Unlock()
}

// Remove unregisters the instance name (the commit point) and then deletes
// its root filesystem. It fails with ErrNotExist if name is not registered
// and ErrBusy while another operation on it runs. Checking that the
// instance is not running is the caller's job. After a crash between the two
// steps, Open finishes the deletion.
func (s *Store) Remove(name string) error {
	if err := ValidInstanceName(name); err != nil {
		return err
	}
	if s.isOverlay(name) {
		return s.removeOverlay(name)
	}
	trash, err := s.unregister(name)
	if err != nil {
		return err
	}
	if err := removeTree(trash); err != nil {
		return fmt.Errorf("delete root filesystem of %s (unregistered; the next daemon start finishes it): %w", name, err)
	}
	return nil
}

// unregister removes name from the registry and moves its tree into
// scratch/, returning where. The name stays busy until the tree has left
// rootfs/, so a new instance of the same name cannot collide with it.
func (s *Store) unregister(name string) (string, error) {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if err := s.reserve(name, false); err != nil {
		return "", err
	}
	defer s.release(name)
	s.mu.Lock()
	meta := cloneMeta(s.meta)
	delete(meta, name)
	var reg []string
	for _, n := range s.reg {
		if n != name {
			reg = append(reg, n)
		}
	}
	s.mu.Unlock()
	if err := s.writeRegistry(reg, meta, false); err != nil {
		return "", err
	}
	s.publish(reg, meta)
	return s.moveToScratch(name)
}

// discardRootfs deletes rootfs/<name> by first renaming it into scratch/,
// so an interrupted deletion never leaves a half tree under rootfs/.
func (s *Store) discardRootfs(name string) error {
	trash, err := s.moveToScratch(name)
	if err != nil {
		return err
	}
	return removeTree(trash)
}

func (s *Store) moveToScratch(name string) (string, error) {
	dir, err := s.scratchJob(rootfsDir, "rm-"+name)
	if err != nil {
		return "", err
	}
	trash := filepath.Join(dir, "root")
	if err := os.Rename(s.RootfsPath(name), trash); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return dir, fmt.Errorf("remove root filesystem %s: %w", s.RootfsPath(name), err)
	}
	return dir, nil
}

// reserve marks an instance name busy. With create, the name must not be
// registered; otherwise it must be.
func (s *Store) reserve(name string, create bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, registered := s.meta[name]
	switch {
	case s.busy[name]:
		return busyInstance(name)
	case create && registered:
		return fmt.Errorf("instance %q %w: remove it first (initns rm %s) or choose another name", name, ErrExist, name)
	case !create && !registered:
		return notExistInstance(name)
	}
	s.busy[name] = true
	return nil
}

// reserveNew checks the names of a new instance and its image and
// reserves the instance's name, as New and NewOverlay begin.
func (s *Store) reserveNew(name, image string) error {
	if err := ValidInstanceName(name); err != nil {
		return err
	}
	if err := ValidImageName(image); err != nil {
		return err
	}
	return s.reserve(name, true)
}

// reserveExisting checks an instance's name and reserves it: it must be
// registered.
func (s *Store) reserveExisting(name string) error {
	if err := ValidInstanceName(name); err != nil {
		return err
	}
	return s.reserve(name, false)
}

// reserveMove checks and reserves the names of a clone or a rename: from
// must be registered, to must not. The function it returns releases both.
func (s *Store) reserveMove(from, to string) (release func(), err error) {
	if err := ValidInstanceName(from); err != nil {
		return nil, err
	}
	if err := ValidInstanceName(to); err != nil {
		return nil, err
	}
	if err := s.reserve(from, false); err != nil {
		return nil, err
	}
	if err := s.reserve(to, true); err != nil {
		s.release(from)
		return nil, err
	}
	return func() { s.release(to); s.release(from) }, nil
}

func (s *Store) release(name string) { s.unmark(s.busy, name) }

// unmark takes name out of set, one of the sets of names with work under
// way (busy, imgIn), which s.mu guards.
func (s *Store) unmark(set map[string]bool, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(set, name)
}

func busyInstance(name string) error {
	return fmt.Errorf("instance %q is %w: another new, rm or commit of it is under way; wait for it", name, ErrBusy)
}

func cloneMeta(m map[string]Instance) map[string]Instance {
	c := make(map[string]Instance, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}
