package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/moby/sys/mountinfo"
)

// MountAll mounts the merged view of every overlay instance at
// rootfs/<name>, skipping those already mounted there (per
// /proc/self/mountinfo), so it may be called again safely. It tries every
// instance and returns the failures joined.
func (s *Store) MountAll() error {
	return s.eachOverlay(false, func(name string) error {
		if err := s.mountNew(name); err != nil {
			return fmt.Errorf("instance %s: %w", name, err)
		}
		return nil
	})
}

// UnmountAll unmounts the merged view of every overlay instance (detaching
// one still in use), for the daemon's shutdown. It tries every instance and
// returns the failures joined.
func (s *Store) UnmountAll() error {
	return s.eachOverlay(true, s.unmountOverlay)
}

// eachOverlay calls f with the name of every overlay instance whose merged
// view is mounted (or, with mounted false, is not), and returns the
// failures joined.
func (s *Store) eachOverlay(mounted bool, f func(name string) error) error {
	m, err := s.mounted()
	if err != nil {
		return err
	}
	var errs []error
	for _, in := range s.overlays() {
		if m[s.RootfsPath(in.Name)] == mounted {
			errs = append(errs, f(in.Name))
		}
	}
	return errors.Join(errs...)
}

// Mounted reports whether the merged view of overlay instance name is
// mounted at rootfs/<name>.
func (s *Store) Mounted(name string) (bool, error) {
	m, err := s.mounted()
	return m[s.RootfsPath(name)], err
}

func (s *Store) overlays() []Instance {
	all, _ := s.Instances()
	var out []Instance
	for _, in := range all {
		if in.Overlay {
			out = append(out, in)
		}
	}
	return out
}

func (s *Store) mounted() (map[string]bool, error) {
	ms, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	return mountPoints(ms), nil
}

// mountPoints returns the mount points of ms, the kernel's octal escapes
// (of space, tab, newline and backslash) undone by the mountinfo parser.
func mountPoints(ms []*mountinfo.Info) map[string]bool {
	out := make(map[string]bool, len(ms))
	for _, m := range ms {
		out[m.Mountpoint] = true
	}
	return out
}

// prepareOverlays runs in Open before the registry is reconciled: it makes
// lower/ and overlay/, finishes an interrupted Rename, and detaches a merged
// view left mounted (a daemon killed without UnmountAll) on a root
// filesystem the registry does not list, so that reconciling can remove it.
func (s *Store) prepareOverlays() error {
	for _, d := range []string{lowerDir, overlayDir} {
		if err := os.Mkdir(s.path(d), privateMode); err != nil && !os.IsExist(err) {
			return fmt.Errorf("create %s: %w", s.path(d), err)
		}
	}
	if err := s.finishRename(); err != nil {
		return err
	}
	names, _, err := readRegistry(s.path(registryF))
	if err != nil {
		return err
	}
	registered := map[string]bool{}
	for _, n := range names {
		registered[n] = true
	}
	// An overlay instance's mount point is an empty directory, which a
	// tidy person may delete: make it again rather than let reconciling
	// drop the instance and its upper layer with it.
	for n := range registered {
		if _, err := os.Stat(s.overlayPath(n)); err == nil {
			if err := os.Mkdir(s.RootfsPath(n), 0o755); err != nil && !os.IsExist(err) {
				return fmt.Errorf("mount point of %s: %w", n, err)
			}
		}
	}
	mounted, err := s.mounted()
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no /proc yet (PID 1 early): nothing of ours is mounted
	}
	if err != nil {
		return err
	}
	ents, _ := os.ReadDir(s.path(rootfsDir))
	for _, e := range ents {
		if !registered[e.Name()] && mounted[s.RootfsPath(e.Name())] {
			if err := unix.Unmount(s.RootfsPath(e.Name()), unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount leftover %s: %w", s.RootfsPath(e.Name()), err)
			}
		}
	}
	return nil
}

// reconcileOverlays runs in Open after the registry is reconciled: an
// instance with an overlay folder is an overlay (whatever damaged metadata
// says); an overlay folder of no registered instance, a half-made folder
// and a lower layer no folder names are deleted.
func (s *Store) reconcileOverlays() error {
	for _, d := range []string{lowerDir, overlayDir} {
		if err := removeTmp(s.path(d)); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(s.path(overlayDir))
	if err != nil {
		return fmt.Errorf("list overlay folders: %w", err)
	}
	dirty := false
	for _, e := range ents {
		in, ok := s.meta[e.Name()]
		switch {
		case !ok:
			if err := s.trashLayer(s.overlayPath(e.Name())); err != nil {
				return err
			}
		case !in.Overlay:
			in.Overlay, dirty = true, true
			s.meta[e.Name()] = in
		}
	}
	if dirty {
		if err := s.writeRegistry(s.reg, s.meta, true); err != nil {
			return err
		}
	}
	return s.dropUnusedLowers()
}

func (s *Store) dropUnusedLowers() error {
	refs, err := s.lowerRefs()
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(s.path(lowerDir))
	if err != nil {
		return fmt.Errorf("list lower layers: %w", err)
	}
	for _, e := range ents {
		if refs[e.Name()] == 0 {
			if err := s.trashLower(e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeTmp deletes the .tmp-* entries of dir: work an interrupted
// operation left.
func removeTmp(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := removeTree(dir + "/" + e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// ensureMounted mounts the merged view of an overlay instance if it is not
// mounted, so that reading rootfs/<name> (Commit) never sees the empty
// mount point instead.
func (s *Store) ensureMounted(in Instance) error {
	if !in.Overlay {
		return nil
	}
	mounted, err := s.Mounted(in.Name)
	if err != nil || mounted {
		return err
	}
	return s.mountNew(in.Name)
}
