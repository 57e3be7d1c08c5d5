package daemon

import (
	"errors"
	"log/slog"
	"testing"

	"initns/proto"
)

// TestVerbTable checks that the daemon serves every verb of the protocol's
// table, and nothing else, with the table's arity.
func TestVerbTable(t *testing.T) {
	for _, v := range proto.Verbs {
		if _, ok := handlers[v.Name]; !ok {
			t.Errorf("verb %s has no handler", v.Name)
		}
		if c, ok := commands[v.Name]; !ok || c.Min != v.Min || c.Max != v.Max {
			t.Errorf("verb %s: dispatched as %+v", v.Name, c.Verb)
		}
	}
	for name := range handlers {
		if _, ok := proto.Lookup(name); !ok {
			t.Errorf("handler %s serves no verb of proto.Verbs", name)
		}
	}
}

// TestDispatchArity checks that dispatch refuses a request one argument
// short or one too many, as a usage error, before any handler runs.
func TestDispatchArity(t *testing.T) {
	d := &Daemon{log: slog.New(slog.DiscardHandler)}
	for _, v := range proto.Verbs {
		for _, n := range []int{v.Min - 1, v.Max + 1} {
			if n < 0 || n > 1<<10 {
				continue
			}
			_, err := d.dispatch(t.Context(), peer{}, v.Name, &call{args: make([]string, n)})
			if !errors.Is(err, proto.ErrUsage) {
				t.Errorf("%s with %d arguments: %v, want a usage error", v.Name, n, err)
			}
		}
	}
}
