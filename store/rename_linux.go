package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// renameF is the rename journal under the state root ("OLD NEW\n"),
// written before a Rename moves anything and removed once the registry
// names NEW: Open rolls an interrupted Rename forward from it.
const renameF = "rename"

// Rename renames the stopped instance old to new: its registry line,
// metadata, root filesystem and (overlay) layer folder and merged view. It
// fails with ErrNotExist if old is not registered, ErrExist if new is, and
// ErrBusy while another operation on either runs; checking that old is not
// running is the caller's job. After a crash, Open finishes the rename.
func (s *Store) Rename(old, new string) error {
	release, err := s.reserveMove(old, new)
	if err != nil {
		return err
	}
	defer release()
	ov := s.isOverlay(old)
	if ov {
		key, err := s.layerKey(old)
		if err != nil {
			return err
		}
		defer s.lockLower(key)()
		if err := s.unmountOverlay(old); err != nil {
			return fmt.Errorf("instance %s: %w", old, err)
		}
	}
	if err := s.renameCommitted(old, new); err != nil {
		if ov {
			s.mountOverlay(old)
		}
		return err
	}
	s.renameBootSettings(old, new)
	if ov {
		if err := s.mountOverlay(new); err != nil {
			return fmt.Errorf("instance %s renamed to %s, but %w (initns restarts retry the mount)", old, new, err)
		}
	}
	return nil
}

// renameCommitted journals the rename, moves the folders and rewrites the
// registry; on a failure before the registry is written it undoes the moves.
func (s *Store) renameCommitted(old, new string) error {
	if err := s.writeAtomic(renameF, []byte(old+" "+new+"\n")); err != nil {
		return fmt.Errorf("rename %s: journal: %w", old, err)
	}
	err := moveInstanceDirs(s, old, new)
	if err == nil {
		err = s.updateRegistry(true, func(reg []string, meta map[string]Instance) []string {
			renameEntry(reg, meta, old, new)
			return reg
		})
	}
	if err != nil {
		moveInstanceDirs(s, new, old)
	}
	if rerr := os.Remove(s.path(renameF)); rerr != nil && err == nil {
		return fmt.Errorf("rename %s: remove journal: %w", old, rerr)
	}
	return err
}

// moveInstanceDirs renames rootfs/<old> and overlay/<old> (if any) to new,
// each only if old exists and new does not, so it can be repeated.
func moveInstanceDirs(s *Store, old, new string) error {
	for _, dir := range []string{rootfsDir, overlayDir} {
		src, dst := s.path(dir, old), s.path(dir, new)
		if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := renameNoReplace(src, dst); err != nil {
			return fmt.Errorf("rename instance %s: %w", old, err)
		}
		if err := syncDir(s.path(dir)); err != nil {
			return err
		}
	}
	return nil
}

func renameEntry(reg []string, meta map[string]Instance, old, new string) {
	for i, n := range reg {
		if n == old {
			reg[i] = new
		}
	}
	if in, ok := meta[old]; ok {
		in.Name = new
		meta[new] = in
		delete(meta, old)
	}
}

// finishRename rolls forward a Rename interrupted by a crash: Open calls it
// before reading the registry.
func (s *Store) finishRename() error {
	data, err := os.ReadFile(s.path(renameF))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read rename journal: %w", err)
	}
	f := strings.Fields(string(data))
	if len(f) == 2 && ValidInstanceName(f[0]) == nil && ValidInstanceName(f[1]) == nil {
		if err := s.rollRename(f[0], f[1]); err != nil {
			return err
		}
	}
	if err := os.Remove(s.path(renameF)); err != nil {
		return fmt.Errorf("remove rename journal: %w", err)
	}
	return syncDir(s.root)
}

func (s *Store) rollRename(old, new string) error {
	names, _, meta, err := s.readDisk()
	if err != nil {
		return err
	}
	found := false
	for _, n := range names {
		found = found || n == old
	}
	if !found {
		return nil // the registry was written: the rename is complete
	}
	if err := moveInstanceDirs(s, old, new); err != nil {
		return err
	}
	renameEntry(names, meta, old, new)
	if err := s.writeRegistry(names, meta, true); err != nil {
		return err
	}
	s.renameBootSettings(old, new)
	return nil
}
