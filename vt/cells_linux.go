package vt

import (
	"fmt"
	"io"
	"os"
)

// Cells returns what VT n shows: its /dev/vcsaN, a 4-byte header (lines,
// columns, cursor column, cursor line) and then each cell's character and
// attribute bytes. Only text mode has cells; a VT in graphics mode keeps
// stale ones.
func Cells(n int) ([]byte, error) {
	path := fmt.Sprintf("/dev/vcsa%d", n)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the screen of VT %d: %w", n, err)
	}
	defer f.Close()
	// The size is the header's own: lines × columns × 2 + 4, at most a
	// few hundred KiB on the largest framebuffer console.
	b, err := io.ReadAll(io.LimitReader(f, 1<<22))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// SetCells puts back on VT n what Cells returned, cursor included (the
// kernel takes the cursor from the header: vcs_write). A VT resized since
// gets what fits.
func SetCells(n int, b []byte) error {
	path := fmt.Sprintf("/dev/vcsa%d", n)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("restore the screen of VT %d: %w", n, err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
