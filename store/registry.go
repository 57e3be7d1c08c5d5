package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// The registry <root>/instances is one instance name per line, as the first
// versions of initns wrote it; it is the commit point of new and rm. The
// metadata <root>/instances.meta is a JSON list written before the registry;
// an entry without a registry line is ignored and dropped at the next write.

type metaFile struct {
	Version   int            `json:"version"`
	Instances []metaInstance `json:"instances"`
}

type metaInstance struct {
	Name    string    `json:"name"`
	Image   string    `json:"image"`
	Created time.Time `json:"created"`
	Size    int64     `json:"size"`
	Overlay bool      `json:"overlay,omitempty"`
	Init    string    `json:"init,omitempty"`
	InitSet string    `json:"init_set,omitempty"`
	// HaltSignal is the user's halt signal for the instance, 0 if unset.
	HaltSignal int    `json:"halt_signal,omitempty"`
	Container  string `json:"container,omitempty"`
}

// readRegistry returns the registry's valid, distinct names in order, and
// whether it had lines it dropped.
func readRegistry(path string) ([]string, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read registry: %w", err)
	}
	var names []string
	seen := map[string]bool{}
	dropped := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name := string(bytes.TrimSpace(sc.Bytes()))
		switch {
		case name == "":
		case ValidInstanceName(name) != nil || seen[name]:
			dropped = true // never let a line name a path outside rootfs/
		default:
			seen[name] = true
			names = append(names, name)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, false, fmt.Errorf("read registry %s: %w", path, err)
	}
	return names, dropped, nil
}

func readMeta(path string) (map[string]Instance, error) {
	m := map[string]Instance{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read instance metadata: %w", err)
	}
	var f metaFile
	if err := json.Unmarshal(data, &f); err != nil {
		// Metadata is a convenience; the registry is the truth. A damaged
		// file is rebuilt from the root filesystems rather than blocking.
		return m, nil
	}
	for _, e := range f.Instances {
		m[e.Name] = Instance(e)
	}
	return m, nil
}

// readDisk reads the registry (its names, and whether it had lines to
// drop) and the metadata as they are on disk.
func (s *Store) readDisk() ([]string, bool, map[string]Instance, error) {
	names, dropped, err := readRegistry(s.path(registryF))
	if err != nil {
		return nil, false, nil, err
	}
	meta, err := readMeta(s.path(metaF))
	return names, dropped, meta, err
}

// reconcile loads the registry and metadata and makes them agree with
// rootfs/ (see Open).
func (s *Store) reconcile() error {
	names, dirty, meta, err := s.readDisk()
	if err != nil {
		return err
	}
	present, err := s.rootfsNames()
	if err != nil {
		return err
	}
	var kept []string
	for _, n := range names {
		if present[n] {
			kept = append(kept, n)
		} else {
			dirty = true // a line without its root filesystem
		}
	}
	s.reg, s.meta = kept, map[string]Instance{}
	for _, n := range kept {
		in, ok := meta[n]
		if !ok {
			in, dirty = s.legacyMeta(n), true
		}
		s.meta[n] = in
	}
	if len(meta) != len(kept) {
		dirty = true
	}
	if dirty {
		if err := s.writeRegistry(s.reg, s.meta, false); err != nil {
			return err
		}
	}
	return s.removeOrphans(present)
}

// removeOrphans deletes every root filesystem without a registry line: a
// new that did not reach its commit point, or an rm that passed it.
func (s *Store) removeOrphans(present map[string]bool) error {
	for n := range present {
		if _, ok := s.meta[n]; ok {
			continue
		}
		if err := s.discardRootfs(n); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) rootfsNames() (map[string]bool, error) {
	ents, err := os.ReadDir(s.path(rootfsDir))
	if err != nil {
		return nil, fmt.Errorf("list root filesystems: %w", err)
	}
	m := map[string]bool{}
	for _, e := range ents {
		if e.Name() != innerScratch {
			m[e.Name()] = true
		}
	}
	return m, nil
}

// legacyMeta describes an instance registered by an older tool, which kept
// no metadata: its creation time is its root's mtime and its size the sum of
// its files, computed once here and then recorded.
func (s *Store) legacyMeta(name string) Instance {
	in := Instance{Name: name}
	p := s.RootfsPath(name)
	if fi, err := os.Lstat(p); err == nil {
		in.Created = fi.ModTime()
	}
	in.Size = treeSize(p)
	return in
}

// writeRegistry writes the registry (the commit point) and the metadata,
// each atomically and durably, in the order that keeps the metadata a
// superset of the registry at every instant: when adding a name the
// metadata goes first, when removing one it goes last. A crash between the
// two writes then never leaves a registered instance without metadata.
func (s *Store) writeRegistry(names []string, meta map[string]Instance, adding bool) error {
	f := metaFile{Version: 1, Instances: []metaInstance{}}
	var reg bytes.Buffer
	for _, n := range names {
		in := meta[n]
		f.Instances = append(f.Instances, metaInstance(in))
		reg.WriteString(n + "\n")
	}
	data, err := json.MarshalIndent(f, "", "\t")
	if err != nil {
		return fmt.Errorf("write instance metadata: %w", err)
	}
	writeMeta := func() error {
		if err := s.writeAtomic(metaF, append(data, '\n')); err != nil {
			return fmt.Errorf("write instance metadata: %w", err)
		}
		return nil
	}
	if adding {
		if err := writeMeta(); err != nil {
			return err
		}
	}
	if err := s.writeAtomic(registryF, reg.Bytes()); err != nil {
		return fmt.Errorf("write registry: %w", err)
	}
	if !adding {
		return writeMeta()
	}
	return nil
}

// writeAtomic replaces <root>/name with data: a temporary file in scratch/
// is written and fsynced, renamed over the target, and the root directory is
// fsynced so that the rename itself survives a power cut. The file is 0600:
// the state root's files are the daemon's alone.
func (s *Store) writeAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(s.path(scratchDir), name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(fileMode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), s.path(name)); err != nil {
		return err
	}
	return syncDir(s.root)
}
