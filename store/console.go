package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// consoleF is the file under the state root listing the instances alive
// at the last console change: the one with the console first ("-" when
// none has it), then the resident ones, most recently in front first. A
// restarted daemon reads it to tell which of the instances it adopts had
// the console and which were put aside by `switch`.
const consoleF = "console"

// SetConsoleOrder records front ("" for none) and the resident instances,
// most recently in front first, atomically.
func (s *Store) SetConsoleOrder(front string, resident []string) error {
	if front == "" {
		front = "-"
	}
	data := strings.Join(append([]string{front}, resident...), "\n") + "\n"
	if err := s.writeAtomic(consoleF, []byte(data)); err != nil {
		return fmt.Errorf("record which instance has the console: %w", err)
	}
	return nil
}

// ConsoleOrder returns what SetConsoleOrder recorded last; nothing when it
// never did. Names no longer registered are left out.
func (s *Store) ConsoleOrder() (front string, resident []string, err error) {
	data, err := os.ReadFile(s.path(consoleF))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("read which instance has the console: %w", err)
	}
	for i, name := range strings.Fields(string(data)) {
		if _, err := s.Instance(name); err != nil {
			continue
		}
		if i == 0 {
			front = name
		} else {
			resident = append(resident, name)
		}
	}
	return front, resident, nil
}
