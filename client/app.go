package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"initns/proto"
)

// Main runs the client and returns its exit status.
func Main(args []string) int {
	app := newApp(os.Stdout, os.Stderr, args)
	var unknown error
	app.CommandNotFound = func(c *cli.Context, cmd string) {
		unknown = usageErr{fmt.Sprintf("unknown command %q: see initns help", cmd)}
	}
	err := app.Run(hoistFlags(app, args))
	if err == nil {
		err = unknown
	}
	return exitCode(err, os.Stderr)
}

// exitCode prints err and maps it to SPEC §4's exit statuses.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.Error() == "" {
		return ec.ExitCode() // exec: the command's own status
	}
	fmt.Fprintln(stderr, "initns:", err)
	var ae *proto.Error
	var ue usageErr
	switch {
	case errors.As(err, &ae) && ae.Code == proto.CodeUsage, errors.As(err, &ue):
		return 2
	case errors.As(err, &ae) && ae.Code == proto.CodeNotFound:
		return 127 // as a shell says a command is not found
	case errors.As(err, &ae) && ae.Code == proto.CodeNotExecutable:
		return 126
	}
	return 1
}

// usageErr is a usage mistake caught by the client itself.
type usageErr struct{ msg string }

func (e usageErr) Error() string { return e.msg }

// newApp builds the command line for args (nil: every command, for help
// and the tests).
func newApp(stdout, stderr io.Writer, args []string) *cli.App {
	app := &cli.App{
		Name:                 "initns",
		Usage:                "keep several OS root filesystems and boot one at a time over this kernel",
		Version:              proto.Version,
		EnableBashCompletion: true,
		Writer:               stdout,
		ErrWriter:            stderr,
		HideVersion:          true,
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError:         onUsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", Value: "/run/initns.sock", EnvVars: []string{"INITNS_SOCKET"}, Usage: "the daemon's socket"},
			&cli.StringFlag{Name: "install", Usage: "create `DIR`/init and DIR/initns as links to this binary, and exit"},
		},
		Before: func(c *cli.Context) error {
			if dir := c.String("install"); dir != "" {
				if err := install(dir); err != nil {
					return err
				}
				os.Exit(0)
			}
			return nil
		},
	}
	app.Commands = commands(typed(app.Flags, args))
	return app
}

// typed is the command named in args (argv): "" when there is none.
func typed(global []cli.Flag, args []string) string {
	if i := commandAt(global, args); i > 0 {
		return args[i]
	}
	return ""
}

// onUsageError marks cli's own usage errors (unknown flags, bad values) so
// they exit 2.
func onUsageError(c *cli.Context, err error, _ bool) error {
	return usageErr{err.Error()}
}

// actions are the client's own ways to send a verb and show its answer;
// every other verb of proto.Verbs sends one request and prints nothing.
// help is urfave/cli's own, which lists the commands.
var actions = map[string]cli.ActionFunc{
	"exec":    execCommand,
	"shell":   shellCommand,
	"diff":    diff,
	"default": setDefault,
	"history": history,
	"ls":      list,
	"version": version,
	"remote":  remoteCommand,
	"pull":    pullCommand,
	"push":    pushCommand,
}

// commands builds the command line from proto.Verbs, plus completion, the
// client's alone. With only naming a verb, the command typed, it builds
// that one alone: a command typed at a shell pays for its own flags and
// not for the thirty others' (their flag sets, urfave/cli's setup of each,
// a tenth of a millisecond). Help of the whole command line and unknown
// commands get them all.
func commands(only string) []*cli.Command {
	verbs := append(proto.Verbs[:len(proto.Verbs):len(proto.Verbs)], proto.ClientVerbs...)
	client := func(v proto.Verb) bool { return !v.Debug && !v.Internal && v.Name != "help" }
	if i := slices.IndexFunc(verbs, func(v proto.Verb) bool { return v.Name == only }); i >= 0 && client(verbs[i]) {
		verbs = verbs[i : i+1]
	}
	var cmds []*cli.Command
	for _, v := range verbs {
		if client(v) {
			cmds = append(cmds, command(v))
		}
	}
	cmds = append(cmds, &cli.Command{Name: "completion", Usage: "print the bash completion script: source <(initns completion bash)", ArgsUsage: "bash", Action: completion})
	for _, c := range cmds {
		c.OnUsageError = onUsageError
	}
	return cmds
}

// command is the cli command of verb v.
func command(v proto.Verb) *cli.Command {
	c := &cli.Command{Name: v.Name, Usage: v.Help, ArgsUsage: v.Args, Action: actions[v.Name]}
	if c.Action == nil {
		c.Action = request(v)
	}
	if len(v.Complete) > 0 {
		c.BashComplete = complete(v.Complete...)
	}
	if v.Name == "exec" {
		// Everything after NAME is the command's, flags included.
		c.ArgsUsage, c.SkipFlagParsing = "NAME [--] CMD [ARGS...]", true
	}
	if v.Progress {
		c.Flags = append(c.Flags, &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"})
	}
	for _, f := range v.Flags {
		var aliases []string
		if f.Alias != "" {
			aliases = []string{f.Alias}
		}
		switch {
		case f.Duration:
			c.Flags = append(c.Flags, &cli.DurationFlag{Name: f.Name, Aliases: aliases, Usage: f.Help})
		case f.Repeat:
			c.Flags = append(c.Flags, &cli.StringSliceFlag{Name: f.Name, Aliases: aliases, Usage: placeholder(f)})
		case f.Value != "":
			c.Flags = append(c.Flags, &cli.StringFlag{Name: f.Name, Aliases: aliases, Usage: placeholder(f)})
		default:
			c.Flags = append(c.Flags, &cli.BoolFlag{Name: f.Name, Aliases: aliases, Usage: f.Help})
		}
	}
	return c
}

// placeholder is a value flag's help with its value's name quoted, which
// urfave/cli shows as the value (--user USER).
func placeholder(f proto.Flag) string {
	return strings.Replace(f.Help, f.Value, "`"+f.Value+"`", 1)
}

// request builds the action of a verb that sends one request of its
// positional arguments and prints nothing.
func request(v proto.Verb) cli.ActionFunc {
	return func(c *cli.Context) error {
		args := c.Args().Slice()
		if err := arity(v.Name, args); err != nil {
			return err
		}
		if v.Name == "seed" {
			// The daemon reads DIR, from its own working directory.
			abs, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			args[0] = abs
		}
		req := proto.Request{Cmd: v.Name, Args: args, Kill: c.Bool("kill"), Timeout: c.Duration("timeout"), Overlay: c.Bool("overlay"), Strict: c.Bool("strict")}
		res, err := send(c, req)
		if err == nil {
			warn(c, v.Name, args, res)
		}
		return named(v.Name, args, err)
	}
}

// arity checks the number of positional arguments of the verb called
// name as the daemon will.
func arity(name string, args []string) error {
	v, _ := proto.Lookup(name)
	switch {
	case len(args) >= v.Min && len(args) <= v.Max:
		return nil
	case v.Min == v.Max:
		return usageErr{fmt.Sprintf("%s: wants %d argument(s): initns %s", v.Name, v.Min, v.Usage())}
	case len(args) < v.Min:
		return usageErr{fmt.Sprintf("%s: wants at least %d arguments: initns %s", v.Name, v.Min, v.Usage())}
	}
	return usageErr{fmt.Sprintf("%s: wants at most %d arguments: initns %s", v.Name, v.Max, v.Usage())}
}

// named prefixes an error as SPEC §4 says: "COMMAND NAME: reason".
func named(cmd string, args []string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", prefix(cmd, args), err)
}

// prefix is "COMMAND NAME", how errors and warnings name a request.
func prefix(cmd string, args []string) string {
	if len(args) > 0 {
		return cmd + " " + args[0]
	}
	return cmd
}

// send performs one request, with a progress bar on a terminal for long work.
func send(c *cli.Context, req proto.Request) (json.RawMessage, error) {
	conn, err := Dial(c.String("socket"))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var progress func(proto.Progress)
	if !c.Bool("quiet") && isTerminal(os.Stderr) {
		b := &bar{w: c.App.ErrWriter, label: req.Cmd}
		defer b.finish()
		progress = b.update
	}
	return conn.Do(req, progress)
}

func version(c *cli.Context) error {
	fmt.Fprintln(c.App.Writer, "initns client", proto.Version)
	res, err := send(c, proto.Request{Cmd: "version"})
	if err != nil {
		return named("version", nil, err)
	}
	var lines []string
	json.Unmarshal(res, &lines)
	fmt.Fprintln(c.App.Writer, "daemon:", strings.Join(lines, " "))
	return nil
}

// complete returns a bash completion that offers the names of what, per
// positional argument ("" for none).
func complete(what ...string) cli.BashCompleteFunc {
	return func(c *cli.Context) {
		i := c.NArg()
		if i >= len(what) || what[i] == "" {
			return
		}
		res, err := send(c, proto.Request{Cmd: "ls", Args: []string{what[i]}})
		if err != nil {
			return
		}
		var names []string
		json.Unmarshal(res, &names)
		for _, n := range names {
			fmt.Fprintln(c.App.Writer, n)
		}
	}
}

func install(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	for _, name := range []string{"init", "initns"} {
		link := filepath.Join(dir, name)
		tmp := link + ".initns-tmp"
		os.Remove(tmp)
		if err := os.Symlink(self, tmp); err != nil {
			return fmt.Errorf("install %s: %w", link, err)
		}
		if err := os.Rename(tmp, link); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("install %s: %w", link, err)
		}
	}
	return nil
}

// warn prints the warnings a request succeeded with (run: a driver
// mismatch) on stderr, as "initns: COMMAND NAME: warning: ...".
func warn(c *cli.Context, cmd string, args []string, res json.RawMessage) {
	var w proto.Warnings
	if json.Unmarshal(res, &w) != nil {
		return
	}
	for _, s := range w.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "initns: %s: warning: %s\n", prefix(cmd, args), s)
	}
}
