package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"initns/archive"
)

// Instance describes one registered instance. Size is the number of bytes
// extracted, recorded when the instance was created (never recomputed, so
// listing is fast); it is zero when unknown.
type Instance struct {
	Name    string
	Image   string
	Created time.Time
	Size    int64
	// Overlay is true for an instance made by NewOverlay: rootfs/<name>
	// is the mount point of its merged view (overlay_linux.go).
	Overlay bool
	// Init is the init system last detected in the root filesystem
	// (package initsys names them); "" when none was recognised.
	Init string
	// InitSet and HaltSignal are the user's settings (`initns set`): an
	// init whose language to speak whatever is detected, and a signal that
	// asks the init to go down, overriding both. Empty and 0: not set.
	InitSet    string
	HaltSignal int
	// Container is the user's container= for the instance's init:
	// "" the default (an empty word: not a container), "none" (no word),
	// or a container manager's name.
	Container string
}

// Image describes one file in images/.
type Image struct {
	Name     string
	Size     int64
	Modified time.Time
	Origin   *Origin // where it was pulled from or pushed to; nil if unknown
}

// Progress receives the bytes of input read so far and the total (-1 if
// unknown). Methods call it at most about ten times a second and once at the
// end; it may be nil. It is the archive engine's type.
type Progress = archive.Progress

// Store is an opened state root. All methods are safe for concurrent use;
// operations on different names run in parallel, and a second operation on a
// name that is being created, removed or written fails with ErrBusy.
type Store struct {
	root string

	regMu sync.Mutex          // serialises registry writes (held across disk I/O)
	mu    sync.Mutex          // guards the fields below (never held across disk I/O)
	reg   []string            // registry order
	meta  map[string]Instance // by name, for every registry line
	busy  map[string]bool     // instance names with a new/rm/commit under way
	imgIn map[string]bool     // image names being written

	originMu sync.Mutex // the origins and remotes files (import.go, remotes.go), each read and written whole

	lowers lowerLocks // overlay lower layers (lower_linux.go)
}

const (
	imagesDir   = "images"
	rootfsDir   = "rootfs"
	scratchDir  = "scratch"
	registryF   = "instances"
	metaF       = "instances.meta"
	rootMode    = 0o711
	privateMode = 0o700
	// fileMode is the registry files' (instances, instances.meta, default).
	fileMode = 0o600
)

// Open opens the state root, creating it (0711) and images/, rootfs/ and
// scratch/ (0700) if missing, forcing rootfs/ and scratch/ to 0700, emptying
// scratch/, and reconciling the registry with rootfs/: a root filesystem
// without a registry line is removed and a line without a root filesystem is
// dropped, so that every operation interrupted by a crash is either fully
// done or not at all. The reconciled registry is written atomically.
func Open(root string) (*Store, error) {
	if !filepath.IsAbs(root) {
		abs, err := filepath.Abs(root)
		if err != nil {
			return nil, fmt.Errorf("state root %s: %w", root, err)
		}
		root = abs
	}
	s := &Store{root: filepath.Clean(root), busy: map[string]bool{}, imgIn: map[string]bool{}}
	if err := s.makeDirs(); err != nil {
		return nil, err
	}
	if err := s.prepareOverlays(); err != nil {
		return nil, err
	}
	if err := s.emptyScratch(); err != nil {
		return nil, err
	}
	if err := s.reconcile(); err != nil {
		return nil, err
	}
	if err := s.reconcileOverlays(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) makeDirs() error {
	if err := os.MkdirAll(s.root, rootMode); err != nil {
		return fmt.Errorf("create state root: %w", err)
	}
	for _, d := range []string{imagesDir, rootfsDir, scratchDir} {
		p := filepath.Join(s.root, d)
		if err := os.Mkdir(p, privateMode); err != nil && !os.IsExist(err) {
			return fmt.Errorf("create %s: %w", p, err)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("state root: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("state root: %s is not a directory: move it away", p)
		}
		// rootfs/ holds setuid files of every instance: no unprivileged
		// host user may reach them (SPEC §5), whatever an older tool left.
		if d != imagesDir && fi.Mode().Perm() != privateMode {
			if err := os.Chmod(p, privateMode); err != nil {
				return fmt.Errorf("state root: %w", err)
			}
		}
	}
	// Older versions wrote the registry files 0644.
	for _, f := range []string{registryF, metaF, defaultF} {
		if err := os.Chmod(s.path(f), fileMode); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("state root: %w", err)
		}
	}
	return nil
}

// emptyScratch removes everything left in scratch/ by an interrupted
// operation.
func (s *Store) emptyScratch() error {
	for _, dir := range []string{s.path(scratchDir), s.path(rootfsDir, innerScratch), s.path(imagesDir, innerScratch)} {
		ents, err := os.ReadDir(dir)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("empty scratch folder: %w", err)
		}
		for _, e := range ents {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("empty scratch folder: %w", err)
			}
		}
	}
	return nil
}

// innerScratch is the scratch folder inside rootfs/ or images/, used when
// that folder is a separate file system (an administrator may mount a large
// disk on rootfs/): work must happen on the file system it is renamed or
// linked into. Its name is not a valid instance or image name.
const innerScratch = ".scratch"

// scratchFor returns the scratch folder for work that ends in the folder
// dir (rootfsDir or imagesDir) of the state root.
func (s *Store) scratchFor(dir string) (string, error) {
	same, err := sameFS(s.path(scratchDir), s.path(dir))
	if err != nil {
		return "", fmt.Errorf("scratch folder: %w", err)
	}
	if same {
		return s.path(scratchDir), nil
	}
	p := s.path(dir, innerScratch)
	if err := os.Mkdir(p, privateMode); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("scratch folder: %w", err)
	}
	return p, nil
}

// scratchJob makes a new folder for one job (prefix names it) in the
// scratch folder of dir.
func (s *Store) scratchJob(dir, prefix string) (string, error) {
	scratch, err := s.scratchFor(dir)
	if err != nil {
		return "", err
	}
	job, err := os.MkdirTemp(scratch, prefix+".")
	if err != nil {
		return "", fmt.Errorf("scratch folder: %w", err)
	}
	return job, nil
}

// Root returns the absolute path of the state root.
func (s *Store) Root() string { return s.root }

// RootfsPath returns <root>/rootfs/<name>. It does not check that the
// instance exists; name must be valid (ValidInstanceName).
func (s *Store) RootfsPath(name string) string { return filepath.Join(s.root, rootfsDir, name) }

// ImagePath returns <root>/images/<name>. It does not check that the image
// exists; name must be valid (ValidImageName).
func (s *Store) ImagePath(name string) string { return filepath.Join(s.root, imagesDir, name) }

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}
