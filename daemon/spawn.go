package daemon

import (
	"log/slog"
	"runtime/debug"
)

// spawn runs f on a goroutine of its own. A panic there is logged and ends
// only that goroutine: outside a request's handler too, nothing may take
// the daemon, which may be PID 1, down.
func spawn(log *slog.Logger, what string, f func()) {
	go func() {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic recovered", "in", what, "panic", r, "stack", string(debug.Stack()))
			}
		}()
		f()
	}()
}
