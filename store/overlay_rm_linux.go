package store

import "fmt"

// removeOverlay is Remove for an overlay instance: the merged view is
// unmounted, the registry line dropped (the commit point), then the mount
// point and the upper layer deleted and the lower layer's reference
// dropped (the lower layer itself goes with its last instance). After a
// crash past the commit point, Open finishes the deletion.
func (s *Store) removeOverlay(name string) error {
	if err := s.reserve(name, false); err != nil {
		return err
	}
	defer s.release(name)
	if err := s.unmountOverlay(name); err != nil {
		return fmt.Errorf("instance %s: %w", name, err)
	}
	err := s.updateRegistry(false, func(reg []string, meta map[string]Instance) []string {
		delete(meta, name)
		return dropName(reg, name)
	})
	if err != nil {
		return err
	}
	if err := s.discardRootfs(name); err != nil {
		return fmt.Errorf("delete mount point of %s (unregistered; the next daemon start finishes it): %w", name, err)
	}
	if err := s.discardLayer(name); err != nil {
		return fmt.Errorf("delete upper layer of %s (unregistered; the next daemon start finishes it): %w", name, err)
	}
	return nil
}
