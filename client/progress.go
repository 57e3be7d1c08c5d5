package client

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"initns/proto"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// bar draws a one-line progress bar on a terminal.
type bar struct {
	w     io.Writer
	label string
	drawn bool
}

const barWidth = 30

func (b *bar) update(p proto.Progress) {
	b.drawn = true
	if p.Total <= 0 {
		fmt.Fprintf(b.w, "\r%s %s", b.label, size(p.Done))
		return
	}
	frac := min(float64(p.Done)/float64(p.Total), 1)
	fill := int(frac * barWidth)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3.0f%% %s / %s ", b.label,
		strings.Repeat("=", fill), strings.Repeat(" ", barWidth-fill), frac*100, size(p.Done), size(p.Total))
}

// finish ends the bar's line.
func (b *bar) finish() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

// size renders a byte count for people.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
