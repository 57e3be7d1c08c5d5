package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// defaultF is the file under the state root holding the boot settings:
// the name of the instance the daemon boots when it starts as PID 1 on the
// first line (empty for none), then KEY=VALUE lines (fallback=NAME,
// menu=SECONDS). A file of one name, as earlier versions wrote it, reads
// the same.
const defaultF = "default"

// MaxMenuSeconds bounds the boot menu's countdown: a day.
const MaxMenuSeconds = 86400

// BootSettings is what the daemon does when it starts as PID 1.
type BootSettings struct {
	Default  string // the instance booted; "" for none
	Fallback string // booted instead when Default is marked failed; "" for none
	Menu     int    // seconds the boot menu counts down; 0 shows none; -1 is not set (the daemon's default)
}

// SetDefault makes name the instance booted when the daemon starts as PID
// 1; "" clears it. The choice is written atomically and durably. An
// unregistered name fails with ErrNotExist.
func (s *Store) SetDefault(name string) error {
	return s.UpdateBootSettings(func(b *BootSettings) error {
		b.Default = name
		return nil
	})
}

// Default returns the instance set by SetDefault, or "" if none is set or
// the one set has been removed since.
func (s *Store) Default() (string, error) {
	b, err := s.BootSettings()
	return b.Default, err
}

// BootSettings reads the boot settings. A named instance that has been
// removed since reads as "".
func (s *Store) BootSettings() (BootSettings, error) {
	b, err := s.readBootSettings()
	if _, ierr := s.Instance(b.Default); ierr != nil {
		b.Default = ""
	}
	if _, ierr := s.Instance(b.Fallback); ierr != nil {
		b.Fallback = ""
	}
	return b, err
}

// UpdateBootSettings changes the boot settings through f, atomically and
// durably, one change at a time. A named instance must be registered
// (ErrNotExist otherwise), a countdown within 0..MaxMenuSeconds or -1.
func (s *Store) UpdateBootSettings(f func(*BootSettings) error) error {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	b, err := s.readBootSettings()
	if err != nil {
		return err
	}
	if err := f(&b); err != nil {
		return err
	}
	for _, name := range []string{b.Default, b.Fallback} {
		if name == "" {
			continue
		}
		if _, err := s.Instance(name); err != nil {
			return err
		}
	}
	if b.Menu < -1 || b.Menu > MaxMenuSeconds {
		return fmt.Errorf("a boot menu of %d seconds: say 0 (no menu) to %d", b.Menu, MaxMenuSeconds)
	}
	return s.writeBootSettings(b)
}

func (s *Store) writeBootSettings(b BootSettings) error {
	if b == (BootSettings{Menu: -1}) {
		if err := os.Remove(s.path(defaultF)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("clear the boot settings: %w", err)
		}
		return syncDir(s.root)
	}
	text := b.Default + "\n"
	if b.Fallback != "" {
		text += "fallback=" + b.Fallback + "\n"
	}
	if b.Menu >= 0 {
		text += "menu=" + strconv.Itoa(b.Menu) + "\n"
	}
	if err := s.writeAtomic(defaultF, []byte(text)); err != nil {
		return fmt.Errorf("write the boot settings: %w", err)
	}
	return nil
}

// readBootSettings reads the file as it is, names unchecked; a line it
// does not know is ignored.
func (s *Store) readBootSettings() (BootSettings, error) {
	b := BootSettings{Menu: -1}
	data, err := os.ReadFile(s.path(defaultF))
	if errors.Is(err, fs.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return b, fmt.Errorf("read the boot settings: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	b.Default = strings.TrimSpace(lines[0])
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(l), "=")
		switch k {
		case "fallback":
			b.Fallback = v
		case "menu":
			if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= MaxMenuSeconds {
				b.Menu = n
			}
		}
	}
	return b, nil
}

// renameBootSettings follows a rename in the boot settings (the names are
// read from the file directly: old is unregistered by now).
func (s *Store) renameBootSettings(old, new string) {
	b, err := s.readBootSettings()
	if err != nil || (b.Default != old && b.Fallback != old) {
		return
	}
	if b.Default == old {
		b.Default = new
	}
	if b.Fallback == old {
		b.Fallback = new
	}
	s.writeBootSettings(b)
}
