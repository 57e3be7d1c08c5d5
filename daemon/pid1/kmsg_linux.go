package pid1

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
)

// kmsgMax is below the kernel's limit for one /dev/kmsg record
// (LOG_LINE_MAX, 1024 minus the header): longer lines are cut.
const kmsgMax = 900

var kmsg struct {
	mu sync.Mutex
	f  *os.File // opened at the first write after /dev is there
}

// Kmsg returns a writer that sends each line written to it to the kernel
// log as an error ("<3>initns: LINE"), so it survives the daemon's log file
// and shows in dmesg and on the console. Before /dev is mounted, or where
// /dev/kmsg cannot be opened, the lines are dropped; writes never fail.
func Kmsg() io.Writer { return kmsgWriter{} }

type kmsgWriter struct{}

func (kmsgWriter) Write(p []byte) (int, error) {
	kmsg.mu.Lock()
	defer kmsg.mu.Unlock()
	if kmsg.f == nil {
		// Not opened once and for all: PID 1 may log before it mounted /dev.
		if kmsg.f, _ = os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); kmsg.f == nil {
			return len(p), nil
		}
	}
	for _, rec := range kmsgRecords(p) {
		// One write(2) is one record of the kernel log.
		kmsg.f.Write(rec)
	}
	return len(p), nil
}

// kmsgRecords turns text into kernel-log records: one per line, as errors
// ("<3>"), prefixed "initns: ", cut to kmsgMax and ended with a newline
// (the kernel keeps a record without one open for a continuation, and
// neither dmesg nor the console sees it until the next record arrives).
func kmsgRecords(p []byte) [][]byte {
	var recs [][]byte
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		if len(line) > kmsgMax {
			line = line[:kmsgMax]
		}
		recs = append(recs, append(append([]byte("<3>initns: "), line...), '\n'))
	}
	return recs
}

// kmsgHandler is a slog.Handler that passes every record on to Next and
// also writes records of level Error and above to the kernel log (Kmsg),
// each as one line "MESSAGE key=value ..." with white space runs (the
// newlines of a stack trace) made single spaces.
type kmsgHandler struct {
	Next  slog.Handler
	attrs []slog.Attr
	kmsg  io.Writer // nil: Kmsg(); a seam for tests
}

// NewKmsgHandler returns a slog.Handler in front of next that also writes
// errors to the kernel log (see kmsgHandler).
func NewKmsgHandler(next slog.Handler) slog.Handler { return &kmsgHandler{Next: next} }

// Enabled reports whether Next wants the level; errors are always enabled.
func (h *kmsgHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.Next.Enabled(ctx, l)
}

// Handle writes errors to the kernel log and passes r on to Next.
func (h *kmsgHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		var b bytes.Buffer
		b.WriteString(r.Message)
		for _, a := range h.attrs {
			fmt.Fprintf(&b, " %s", a)
		}
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s", a)
			return true
		})
		// One record per error: the kernel lets one opener of /dev/kmsg
		// write only 10 records in 5 s, and a stack trace would spend them
		// all. The log file keeps the lines; the kernel log gets the gist.
		w := h.kmsg
		if w == nil {
			w = Kmsg()
		}
		w.Write(bytes.Join(bytes.Fields(b.Bytes()), []byte(" ")))
	}
	if !h.Next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Next.Handle(ctx, r)
}

// WithAttrs returns a handler whose records carry attrs too.
func (h *kmsgHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	all := append(append([]slog.Attr{}, h.attrs...), attrs...)
	return &kmsgHandler{Next: h.Next.WithAttrs(attrs), attrs: all, kmsg: h.kmsg}
}

// WithGroup returns a handler that groups later attributes under name.
// The kernel-log line stays flat: a person reads it, not a parser.
func (h *kmsgHandler) WithGroup(name string) slog.Handler {
	return &kmsgHandler{Next: h.Next.WithGroup(name), attrs: h.attrs, kmsg: h.kmsg}
}
