package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"initns/archive"
)

// Lower layers live in <root>/lower/<key>/: tree/ is the unpacked image and
// size the bytes of file content extracted. The key names the image file's
// content by its name, size, modification time and inode, so a replaced
// image gets a new lower layer while instances of the old one keep theirs.
// A lower layer is referenced by the overlay folders naming it (their
// lower file): the reference count is counted, never stored, so a crash
// cannot make it wrong.
const (
	lowerDir  = "lower"
	lowerTree = "tree"
	lowerSize = "size"
)

// lowerLocks serialises the creation of a lower layer, the making and
// deleting of the overlay folders that reference it, and its deletion.
type lowerLocks struct {
	mu   sync.Mutex
	keys map[string]*sync.Mutex
}

// lockLower locks the lower layer key and returns the unlock function.
func (s *Store) lockLower(key string) func() {
	s.lowers.mu.Lock()
	if s.lowers.keys == nil {
		s.lowers.keys = map[string]*sync.Mutex{}
	}
	m := s.lowers.keys[key]
	if m == nil {
		m = &sync.Mutex{}
		s.lowers.keys[key] = m
	}
	s.lowers.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// lowerKey names the lower layer of image, which must exist.
func (s *Store) lowerKey(image string) (string, error) {
	fi, err := os.Stat(s.ImagePath(image))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("image %q %w in %s: list images with initns ls image", image, ErrNotExist, s.path(imagesDir))
	}
	if err != nil {
		return "", fmt.Errorf("image %s: %w", image, err)
	}
	if fi.IsDir() {
		// An OCI layout: its index.json changes with its content.
		if fi, err = os.Stat(filepath.Join(s.ImagePath(image), "index.json")); err != nil {
			return "", fmt.Errorf("%w: image %s is a directory without index.json: only OCI image layouts may be directories", ErrBadImage, image)
		}
	}
	st := fi.Sys().(*syscall.Stat_t)
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d\x00%d\x00%d", image, fi.Size(), fi.ModTime().UnixNano(), st.Dev, st.Ino)))
	return hex.EncodeToString(h[:16]), nil
}

func validKey(key string) bool {
	if len(key) != 32 {
		return false
	}
	_, err := hex.DecodeString(key)
	return err == nil
}

func (s *Store) lowerTree(key string) string { return s.path(lowerDir, key, lowerTree) }

// ensureLower makes lower/<key> from image unless it exists, and returns
// the bytes of file content it holds. The caller holds lockLower(key).
func (s *Store) ensureLower(ctx context.Context, key, image string, p Progress) (int64, error) {
	dir := s.path(lowerDir, key)
	if data, err := os.ReadFile(filepath.Join(dir, lowerSize)); err == nil {
		n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if p != nil {
			p(1, 1)
		}
		return n, nil
	}
	tmp, err := os.MkdirTemp(s.path(lowerDir), tmpPrefix)
	if err != nil {
		return 0, fmt.Errorf("lower layer folder: %w", err)
	}
	defer removeTree(tmp)
	res, err := s.extractImage(ctx, image, filepath.Join(tmp, "x"), p)
	if err != nil {
		return 0, fmt.Errorf("image %s: %w", image, err)
	}
	if err := os.Rename(res.Root, filepath.Join(tmp, lowerTree)); err != nil {
		return 0, fmt.Errorf("lower layer: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, lowerSize), []byte(strconv.FormatInt(res.Size, 10)+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("lower layer: %w", err)
	}
	if err := archive.SyncFS(tmp); err != nil {
		return 0, err
	}
	// A leftover without its size file is an interrupted deletion.
	if err := removeTree(dir); err != nil {
		return 0, err
	}
	if err := renameNoReplace(tmp, dir); err != nil {
		return 0, fmt.Errorf("move lower layer into place: %w", err)
	}
	return res.Size, syncDir(s.path(lowerDir))
}

// extractImage extracts images/<image> into the new directory dst.
func (s *Store) extractImage(ctx context.Context, image, dst string, p Progress) (archive.Result, error) {
	f, err := os.Open(s.ImagePath(image))
	if errors.Is(err, fs.ErrNotExist) {
		return archive.Result{}, fmt.Errorf("image %q %w in %s: list images with initns ls image", image, ErrNotExist, s.path(imagesDir))
	}
	if err != nil {
		return archive.Result{}, fmt.Errorf("open image: %w", err)
	}
	defer f.Close()
	return archive.ExtractImage(ctx, f, dst, p)
}

// dropLower deletes lower/<key> if no overlay folder names it any more.
func (s *Store) dropLower(key string) error {
	unlock := s.lockLower(key)
	defer unlock()
	refs, err := s.lowerRefs()
	if err != nil {
		return err
	}
	if refs[key] > 0 {
		return nil
	}
	return s.trashLower(key)
}

// trashLower deletes lower/<key>: renamed to lower/.tmp-* first, so an
// interrupted deletion never leaves a half tree under the key.
func (s *Store) trashLower(key string) error {
	return trashIn(s.path(lowerDir), s.path(lowerDir, key), "lower layer")
}

// lowerRefs counts, for each lower key, the overlay folders naming it.
func (s *Store) lowerRefs() (map[string]int, error) {
	ents, err := os.ReadDir(s.path(overlayDir))
	if err != nil {
		return nil, fmt.Errorf("list overlay folders: %w", err)
	}
	refs := map[string]int{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if key, err := s.layerKey(e.Name()); err == nil {
			refs[key]++
		}
	}
	return refs, nil
}
