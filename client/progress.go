package client

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

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
	start time.Time // the first update: where the rate is measured from
	from  int64     // what was done by then (a resumed download's bytes)
}

const barWidth = 30

func (b *bar) update(p proto.Progress) {
	if !b.drawn {
		b.drawn, b.start, b.from = true, time.Now(), p.Done
	}
	rate := float64(p.Done-b.from) / max(time.Since(b.start).Seconds(), 0.001)
	if p.Total <= 0 {
		fmt.Fprintf(b.w, "\r%s %s %s/s ", b.label, size(p.Done), size(int64(rate)))
		return
	}
	frac := min(float64(p.Done)/float64(p.Total), 1)
	fill := int(frac * barWidth)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3.0f%% %s / %s %s/s %s ", b.label,
		strings.Repeat("=", fill), strings.Repeat(" ", barWidth-fill), frac*100, size(p.Done), size(p.Total),
		size(int64(rate)), eta(p, rate))
}

// eta is the time left at rate, for people: "ETA 1m05s".
func eta(p proto.Progress, rate float64) string {
	if rate <= 0 || p.Done >= p.Total {
		return "        "
	}
	left := time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second))
	return fmt.Sprintf("ETA %-8s", left.Round(time.Second))
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
