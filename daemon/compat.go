package daemon

import (
	"errors"
	"strings"

	"initns/proto"
)

// Compatibility-mode answers (SPEC §9). Every answer ends with "\n\n".
const (
	answerOK     = "ok\n\n"
	answerError  = "error\n\n"
	answerSyntax = "syntax\n\n"
)

// parseCompat splits a compatibility-mode request line (without its
// newline) into verb and arguments: words split on single spaces, a
// trailing space ignored.
func parseCompat(line string) (verb string, args []string) {
	line = strings.TrimSuffix(line, "\r")
	line = strings.TrimSuffix(line, " ")
	words := strings.Split(line, " ")
	return words[0], words[1:]
}

// compatAnswer renders a handler's outcome: the body for list results,
// else ok or error.
func compatAnswer(result any, err error) string {
	switch {
	case errors.Is(err, proto.ErrUsage):
		return answerSyntax
	case err != nil:
		return answerError
	}
	if lines, ok := result.([]string); ok {
		return joinLines(lines) + "\n"
	}
	return answerOK
}
