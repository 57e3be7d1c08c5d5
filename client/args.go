package client

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// hoistFlags moves a command's flags written after its arguments (as in
// `initns stop NAME --kill`) before them, because urfave/cli v2 stops
// parsing flags at the first argument. A "--" ends the flags.
func hoistFlags(app *cli.App, args []string) []string {
	i := commandAt(app.Flags, args)
	if i < 0 {
		return args
	}
	cmd := find(app.Commands, args[i])
	if cmd == nil || cmd.SkipFlagParsing {
		return args
	}
	flags, rest := split(cmd, args[i+1:])
	out := append(append([]string{}, args[:i+1]...), flags...)
	if len(rest) == 0 {
		return out
	}
	// After "--" an argument that starts with "-" stays an argument.
	return append(append(out, "--"), rest...)
}

// commandAt is the index in args (argv) of the command, the first
// argument after the global flags and their values; -1 when there is
// none.
func commandAt(global []cli.Flag, args []string) int {
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return i
		}
		if !strings.Contains(a, "=") && takesValue(global, strings.TrimLeft(a, "-")) {
			i++ // the global flag's value
		}
	}
	return -1
}

// split separates a command's flags (with their values) from its
// positional arguments.
func split(cmd *cli.Command, args []string) (flags, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(rest, args[i+1:]...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && takesValue(cmd.Flags, name) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, rest
}

func takesValue(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}

func find(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
