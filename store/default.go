package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// defaultF is the file under the state root naming the instance the daemon
// boots when it starts as PID 1 (one name and a newline).
const defaultF = "default"

// SetDefault makes name the instance booted when the daemon starts as PID
// 1; "" clears it. The choice is written atomically and durably. An
// unregistered name fails with ErrNotExist.
func (s *Store) SetDefault(name string) error {
	if name == "" {
		if err := os.Remove(s.path(defaultF)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("clear default instance: %w", err)
		}
		return syncDir(s.root)
	}
	if _, err := s.Instance(name); err != nil {
		return err
	}
	if err := s.writeAtomic(defaultF, []byte(name+"\n")); err != nil {
		return fmt.Errorf("set default instance: %w", err)
	}
	return nil
}

// Default returns the instance set by SetDefault, or "" if none is set or
// the one set has been removed since.
func (s *Store) Default() (string, error) {
	data, err := os.ReadFile(s.path(defaultF))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read default instance: %w", err)
	}
	name := strings.TrimSpace(string(data))
	if _, err := s.Instance(name); err != nil {
		return "", nil
	}
	return name, nil
}
