package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"initns/archive"
)

// An overlay instance keeps its own changes in <root>/overlay/<name>/:
//
//	lower   a text file naming its lower layer (a key under <root>/lower/)
//	upper/  the overlayfs upper layer: everything the instance changed
//	work/   the overlayfs work directory (same file system as upper/)
//
// The merged view is mounted at rootfs/<name>, an empty directory while it
// is not mounted. The folder is made complete in overlay/.tmp-* and renamed
// into place, so overlay/<name> is always whole; the registry line is still
// the commit point: Open deletes an overlay folder whose name is not
// registered and a lower layer no overlay folder names.
const (
	overlayDir = "overlay"
	layerLower = "lower"
	layerUpper = "upper"
	layerWork  = "work"
	tmpPrefix  = ".tmp-"
)

// overlayOptions are the mount options besides the three directories.
// index=off and xino=off keep an instance's upper layer usable whatever
// lower copy it is later mounted over (Reset, Clone, a re-extracted lower);
// redirect_dir=off and metacopy=off keep every change a full copy in the
// upper layer, which Diff, Clone and DiskUse rely on.
const overlayOptions = "index=off,xino=off,redirect_dir=off,metacopy=off"

// NewOverlay creates the overlay instance name over image (a file in
// images/, or an OCI layout or archive there): its lower layer is a
// read-only unpacked copy of the image shared with every overlay instance of
// the same image file, extracted (through Extract, atomically) by the first
// of them, so later ones take milliseconds. Its upper layer starts empty,
// and the merged view is mounted at rootfs/<name>. Errors and atomicity are
// those of New: ErrExist, ErrNotExist, ErrBadImage; on failure or crash
// nothing is left and the registry is unchanged.
func (s *Store) NewOverlay(ctx context.Context, name, image string, p Progress) error {
	if err := s.reserveNew(name, image); err != nil {
		return err
	}
	defer s.release(name)
	key, err := s.lowerKey(image)
	if err != nil {
		return err
	}
	unlock := s.lockLower(key)
	size, err := s.ensureLower(ctx, key, image, p)
	if err == nil {
		err = s.placeLayer(ctx, name, key, "")
	}
	unlock()
	if err != nil {
		return err
	}
	return s.mountAndRegister(Instance{Name: name, Image: image, Created: time.Now().UTC().Truncate(time.Second), Size: size, Overlay: true})
}

// mountAndRegister mounts the merged view of the new overlay instance in,
// whose layer is in place, and registers it (the commit point). On failure
// it undoes both and discards the layer.
func (s *Store) mountAndRegister(in Instance) error {
	if err := s.mountNew(in.Name); err != nil {
		s.discardLayer(in.Name)
		return err
	}
	if err := s.register(in); err != nil {
		s.unmountOverlay(in.Name)
		os.Remove(s.RootfsPath(in.Name))
		s.discardLayer(in.Name)
		return err
	}
	return nil
}

// placeLayer makes overlay/<name> for the lower layer key: an empty upper
// layer, or a copy of the directory from when it is not "" (which ctx
// cancels).
func (s *Store) placeLayer(ctx context.Context, name, key, from string) error {
	tmp, err := s.makeLayer(ctx, key, from)
	if err != nil {
		return err
	}
	// A folder left by a new that crashed before its commit point belongs
	// to no instance (name is reserved and unregistered): replace it.
	if err := removeTree(s.overlayPath(name)); err != nil {
		removeTree(tmp)
		return err
	}
	if err := renameNoReplace(tmp, s.overlayPath(name)); err != nil {
		removeTree(tmp)
		return fmt.Errorf("move overlay layer into place: %w", err)
	}
	return syncDir(s.path(overlayDir))
}

// makeLayer builds a complete, synced layer folder in overlay/.tmp-*.
func (s *Store) makeLayer(ctx context.Context, key, from string) (dir string, err error) {
	dir, err = os.MkdirTemp(s.path(overlayDir), tmpPrefix)
	if err != nil {
		return "", fmt.Errorf("overlay folder: %w", err)
	}
	defer func() {
		if err != nil {
			removeTree(dir)
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, layerLower), []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("overlay folder: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, layerWork), privateMode); err != nil {
		return "", fmt.Errorf("overlay folder: %w", err)
	}
	upper := filepath.Join(dir, layerUpper)
	if from != "" {
		if err := copyTree(ctx, from, upper); err != nil {
			return "", err
		}
		return dir, archive.SyncFS(dir)
	}
	if err := emptyUpper(s.lowerTree(key), upper); err != nil {
		return "", err
	}
	// A few fsyncs rather than a syncfs, which would also wait for every
	// other dirty file of the file system (a big extraction under way).
	for _, p := range []string{filepath.Join(dir, layerLower), upper, filepath.Join(dir, layerWork), dir} {
		if err := fsyncPath(p); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func fsyncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", p, err)
	}
	return nil
}

// emptyUpper creates an empty upper layer whose root carries the owner,
// mode and times of the lower root: overlayfs shows the upper root's
// attributes as those of the merged root.
func emptyUpper(lower, upper string) error {
	var st unix.Stat_t
	if err := unix.Lstat(lower, &st); err != nil {
		return fmt.Errorf("lower layer %s: %w", lower, err)
	}
	if err := os.Mkdir(upper, 0o700); err != nil {
		return fmt.Errorf("upper layer: %w", err)
	}
	if err := os.Lchown(upper, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("upper layer: %w", err)
	}
	if err := unix.Chmod(upper, st.Mode&0o7777); err != nil {
		return fmt.Errorf("upper layer: chmod %s: %w", upper, err)
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, upper, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("upper layer: utimes %s: %w", upper, err)
	}
	return nil
}

// mountNew creates the mount point rootfs/<name> and mounts the merged view.
func (s *Store) mountNew(name string) error {
	if err := os.Mkdir(s.RootfsPath(name), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("mount point: %w", err)
	}
	if err := s.mountOverlay(name); err != nil {
		os.Remove(s.RootfsPath(name))
		return err
	}
	return syncDir(s.path(rootfsDir))
}

// mountOverlay mounts the merged view of overlay instance name.
func (s *Store) mountOverlay(name string) error {
	key, err := s.layerKey(name)
	if err != nil {
		return err
	}
	layer := s.overlayPath(name)
	dirs := []string{s.lowerTree(key), filepath.Join(layer, layerUpper), filepath.Join(layer, layerWork)}
	for _, d := range dirs {
		// The option string separates with ',' and ':' and escapes with
		// '\': a state root whose path holds one cannot be described.
		if strings.ContainsAny(d, ",:\\") {
			return fmt.Errorf("mount overlay %s: the path %s contains ',', ':' or '\\', which overlayfs options cannot carry: use another state root", name, d)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,%s", dirs[0], dirs[1], dirs[2], overlayOptions)
	if err := unix.Mount("overlay", s.RootfsPath(name), "overlay", 0, opts); err != nil {
		hint := ""
		if err == unix.EINVAL || err == unix.ENODEV {
			// The kernel says why only in its log.
			hint = " (the state root's file system must support overlayfs upper layers, as ext4, xfs, btrfs and tmpfs do, and the kernel overlay module must be loaded; dmesg tells more)"
		}
		return fmt.Errorf("mount overlay on %s: %w%s", s.RootfsPath(name), err, hint)
	}
	return nil
}

// unmountOverlay unmounts rootfs/<name> if it is mounted. A mount still in
// use (a shell browsing it) is detached: it disappears from rootfs/ at once
// and the kernel lets go of it when its last user does.
func (s *Store) unmountOverlay(name string) error {
	p := s.RootfsPath(name)
	err := unix.Unmount(p, 0)
	if err == unix.EBUSY {
		err = unix.Unmount(p, unix.MNT_DETACH)
	}
	if err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	return nil
}

// layerKey reads which lower layer overlay instance name lies on.
func (s *Store) layerKey(name string) (string, error) {
	data, err := os.ReadFile(filepath.Join(s.overlayPath(name), layerLower))
	if err != nil {
		return "", fmt.Errorf("overlay instance %s: its layer folder is damaged (remove it with initns rm %s): %w", name, name, err)
	}
	key := strings.TrimSpace(string(data))
	if !validKey(key) {
		return "", fmt.Errorf("overlay instance %s: its layer folder names no valid lower layer (remove it with initns rm %s)", name, name)
	}
	return key, nil
}

// discardLayer deletes overlay/<name> and drops its lower layer's reference.
func (s *Store) discardLayer(name string) error {
	key, kerr := s.layerKey(name)
	if err := s.trashLayer(s.overlayPath(name)); err != nil {
		return err
	}
	if kerr != nil {
		return nil
	}
	return s.dropLower(key)
}

// trashLayer deletes a layer folder: renamed to overlay/.tmp-* first, so an
// interrupted deletion never leaves a half layer under a name.
func (s *Store) trashLayer(dir string) error {
	return trashIn(s.path(overlayDir), dir, "overlay layer")
}

// trashIn deletes path (what names it in errors) by renaming it into a new
// folder .tmp-* of parent first, on the same file system: an interrupted
// deletion never leaves a half tree under the name, and Open empties what
// such a folder still holds.
func trashIn(parent, path, what string) error {
	trash, err := os.MkdirTemp(parent, tmpPrefix)
	if err != nil {
		return fmt.Errorf("%s folder: %w", what, err)
	}
	if err := os.Rename(path, filepath.Join(trash, "old")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		removeTree(trash)
		return fmt.Errorf("remove %s %s: %w", what, path, err)
	}
	return removeTree(trash)
}

func (s *Store) overlayPath(name string) string { return s.path(overlayDir, name) }

// isOverlay reports whether the registered instance name is an overlay.
func (s *Store) isOverlay(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta[name].Overlay
}
