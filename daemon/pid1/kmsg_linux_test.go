package pid1

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestKmsgRecords(t *testing.T) {
	long := strings.Repeat("x", 2000)
	recs := kmsgRecords([]byte("first\nsecond\n" + long + "\n"))
	if len(recs) != 3 {
		t.Fatalf("%d records, want one per line", len(recs))
	}
	if string(recs[0]) != "<3>initns: first\n" || string(recs[1]) != "<3>initns: second\n" {
		t.Errorf("records %q %q", recs[0], recs[1])
	}
	if len(recs[2]) != len("<3>initns: ")+kmsgMax+1 || !bytes.HasSuffix(recs[2], []byte("\n")) {
		t.Errorf("long line: %d bytes, want cut to %d and ended with a newline", len(recs[2]), kmsgMax)
	}
}

func TestKmsgHandler(t *testing.T) {
	var file, kmsg bytes.Buffer
	h := NewKmsgHandler(slog.NewTextHandler(&file, &slog.HandlerOptions{Level: slog.LevelWarn})).(*kmsgHandler)
	h.kmsg = &kmsg
	log := slog.New(h).With("pid", 1)
	log.Info("quiet")
	log.Warn("warned")
	log.Error("module failed", "module", "evdev")
	if got, want := kmsg.String(), "module failed pid=1 module=evdev"; got != want {
		t.Errorf("kernel log got %q, want %q (errors only, with attributes)", got, want)
	}
	kmsg.Reset()
	log.Error("panic in request", "stack", "goroutine 1:\n\tmain.go:3\nmain.main()")
	if got, want := kmsg.String(), "panic in request pid=1 stack=goroutine 1: main.go:3 main.main()"; got != want {
		t.Errorf("kernel log got %q, want one line %q", got, want)
	}
	if out := file.String(); strings.Contains(out, "quiet") || !strings.Contains(out, "warned") || !strings.Contains(out, "module failed") {
		t.Errorf("next handler got %q, want warned and module failed only", out)
	}
}
