package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"initns/proto"
)

// fuzzDaemon answers requests without touching the machine: list verbs
// get a body, "fail" an error, anything else ok.
func fuzzDaemon() *Daemon {
	d := &Daemon{log: slog.New(slog.DiscardHandler)}
	d.handle = func(ctx context.Context, p peer, verb string, c *call) (any, error) {
		switch verb {
		case "ls":
			return []string{"a", "b"}, nil
		case "fail":
			return nil, errors.New("failed")
		case "usage":
			return nil, proto.ErrUsage
		}
		return nil, nil
	}
	return d
}

// FuzzSession feeds arbitrary bytes to a connection's session, in either
// mode, and checks every answer is well formed: a compatibility answer
// ends with "\n\n", a client-mode answer is one JSON reply per line, and
// there is never more than one answer per request line.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"ls image\n", "new a b\nrm a\n", "ls \n", "help\nfail\n",
		`{"cmd":"ls"}` + "\n", `{"cmd":"new","args":["a","b"]}` + "\n" + "ls instance\n",
		"{bad json\n", strings.Repeat("x", 5000) + "\n", "no newline", "\n\n\n", "usage\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		fuzzDaemon().session(bytes.NewReader(in), &out, peer{})
		answers := checkAnswers(t, out.Bytes())
		if lines := bytes.Count(in, []byte("\n")); answers > lines+1 {
			t.Fatalf("%d answers for %d request lines", answers, lines)
		}
	})
}

// checkAnswers parses a session's output and returns how many answers it
// holds.
func checkAnswers(t *testing.T, out []byte) int {
	n := 0
	for len(out) > 0 {
		n++
		if out[0] == '{' {
			line, rest, ok := bytes.Cut(out, []byte("\n"))
			var rep proto.Reply
			if !ok || json.Unmarshal(line, &rep) != nil || !rep.Done {
				t.Fatalf("bad client-mode answer %q", line)
			}
			out = rest
			continue
		}
		i := bytes.Index(out, []byte("\n\n"))
		if i < 0 {
			t.Fatalf("compatibility answer %q does not end with \\n\\n", out)
		}
		out = out[i+2:]
	}
	return n
}

func TestSessionAnswers(t *testing.T) {
	var out bytes.Buffer
	fuzzDaemon().session(strings.NewReader("ls image\nfail\nfrob\n{\"cmd\":\"x\"}\nusage\n"), &out, peer{})
	want := "a\nb\n\nerror\n\nok\n\n{\"done\":true}\nsyntax\n\n"
	if out.String() != want {
		t.Fatalf("answers %q, want %q", out.String(), want)
	}
}

func TestSpawnRecoversPanics(t *testing.T) {
	logged := make(chan string, 1)
	spawn(slog.New(slog.NewTextHandler(chanWriter(logged), nil)), "test", func() { panic("boom") })
	select {
	case line := <-logged:
		if !strings.Contains(line, "panic recovered") || !strings.Contains(line, "boom") {
			t.Fatalf("log: %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the panic was not logged")
	}
}

// chanWriter sends each write to a channel.
type chanWriter chan string

func (c chanWriter) Write(p []byte) (int, error) {
	c <- string(p)
	return len(p), nil
}
