package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"initns/daemon/api"
)

// Main runs the client and returns its exit status.
func Main(args []string) int {
	app := newApp(os.Stdout, os.Stderr)
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
	var ae *api.Error
	var ue usageErr
	switch {
	case errors.As(err, &ae) && ae.Code == api.CodeUsage, errors.As(err, &ue):
		return 2
	}
	return 1
}

// usageErr is a usage mistake caught by the client itself.
type usageErr struct{ msg string }

func (e usageErr) Error() string { return e.msg }

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:                 "initns",
		Usage:                "keep several OS root filesystems and boot one at a time over this kernel",
		Version:              versionString(),
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
		Commands: commands(),
	}
}

// onUsageError marks cli's own usage errors (unknown flags, bad values) so
// they exit 2.
func onUsageError(c *cli.Context, err error, _ bool) error {
	return usageErr{err.Error()}
}

func commands() []*cli.Command {
	long := []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"}}
	cmds := []*cli.Command{
		{Name: "new", Usage: "extract IMAGE into a new instance NAME (--overlay: over a shared unpacked image, in milliseconds)", ArgsUsage: "NAME IMAGE",
			Flags:  append(long, &cli.BoolFlag{Name: "overlay", Usage: "an overlay instance: only its changes take disk space"}),
			Action: request("new", 2), BashComplete: complete("", "image")},
		{Name: "reset", Usage: "throw away a stopped instance's changes: back to its image", ArgsUsage: "NAME", Flags: long,
			Action: request("reset", 1), BashComplete: complete("instance")},
		{Name: "clone", Usage: "copy the stopped instance SRC into a new instance DST", ArgsUsage: "SRC DST", Flags: long,
			Action: request("clone", 2), BashComplete: complete("instance")},
		{Name: "rename", Usage: "rename a stopped instance", ArgsUsage: "OLD NEW",
			Action: request("rename", 2), BashComplete: complete("instance")},
		{Name: "diff", Usage: "list what an instance changed against its image (A added, M modified, D deleted)", ArgsUsage: "NAME",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "machine-readable output"}},
			Action: diff, BashComplete: complete("instance")},
		{Name: "default", Usage: "show, set (NAME) or clear (--clear) the instance booted when the daemon starts as PID 1", ArgsUsage: "[NAME]",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "clear", Usage: "boot no instance at start"}},
			Action: setDefault, BashComplete: complete("instance")},
		{Name: "rm", Usage: "delete a stopped instance", ArgsUsage: "NAME",
			Action: request("rm", 1), BashComplete: complete("instance")},
		{Name: "run", Usage: "boot NAME (stopping the running one), or thaw it if frozen", ArgsUsage: "NAME",
			Action: request("run", 1), BashComplete: complete("instance")},
		{Name: "stop", Usage: "stop NAME: halt signal, wait, then kill", ArgsUsage: "NAME",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "kill", Usage: "kill at once"},
				&cli.DurationFlag{Name: "timeout", Usage: "how long to wait for a graceful stop (default: the daemon's, 10s)"},
			},
			Action: request("stop", 1), BashComplete: complete("instance")},
		{Name: "freeze", Usage: "freeze the running instance NAME (run NAME thaws it)", ArgsUsage: "NAME",
			Action: request("freeze", 1), BashComplete: complete("instance")},
		{Name: "exec", Usage: "run a command inside the running instance NAME with this terminal; exits with its status", ArgsUsage: "NAME -- CMD [ARGS...]",
			Action: execCommand, BashComplete: complete("instance"), SkipFlagParsing: true},
		{Name: "set", Usage: "change an instance's settings: init=KIND|auto (the init whose shutdown language stop speaks: systemd, sysvinit, openrc-init, runit, busybox), halt-signal=SIGNAL|auto (a signal that asks its init to power off, e.g. SIGUSR2 or SIGRTMIN+4)",
			ArgsUsage: "NAME KEY=VALUE...", Action: request("set", -1), BashComplete: complete("instance")},
		{Name: "ls", Usage: "list instances and images; `ls image` or `ls instance` for bare names", ArgsUsage: "[image|instance]",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "machine-readable output"}},
			Action: list},
		{Name: "seed", Usage: "snapshot the directory tree DIR into a new image", ArgsUsage: "DIR IMAGE", Flags: long,
			Action: request("seed", 2)},
		{Name: "commit", Usage: "snapshot instance NAME into a new image", ArgsUsage: "NAME IMAGE", Flags: long,
			Action: request("commit", 2), BashComplete: complete("instance")},
		{Name: "reboot", Usage: "stop the instance gracefully and reboot (or end the daemon when not PID 1)", Action: request("reboot", 0)},
		{Name: "poweroff", Usage: "stop the instance gracefully and power off (or end the daemon when not PID 1)", Action: request("poweroff", 0)},
		{Name: "version", Usage: "print the client's and the daemon's versions", Action: version},
		{Name: "completion", Usage: "print the bash completion script: source <(initns completion bash)", ArgsUsage: "bash", Action: completion},
	}
	for _, c := range cmds {
		c.OnUsageError = onUsageError
	}
	return cmds
}

// request builds the action of a command that sends one request with n
// positional arguments (-1: at least two, a name and what follows).
func request(cmd string, n int) cli.ActionFunc {
	return func(c *cli.Context) error {
		args := c.Args().Slice()
		if n < 0 && len(args) < 2 {
			return usageErr{fmt.Sprintf("%s: wants a NAME and at least one more argument: initns %s %s", cmd, cmd, c.Command.ArgsUsage)}
		}
		if n >= 0 && len(args) != n {
			return usageErr{fmt.Sprintf("%s: wants %d argument(s): initns %s %s", cmd, n, cmd, c.Command.ArgsUsage)}
		}
		if cmd == "seed" {
			abs, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			args[0] = abs
		}
		req := api.Request{Cmd: cmd, Args: args, Kill: c.Bool("kill"), Timeout: c.Duration("timeout"), Overlay: c.Bool("overlay")}
		_, err := send(c, req)
		return named(cmd, args, err)
	}
}

// named prefixes an error as SPEC §4 says: "COMMAND NAME: reason".
func named(cmd string, args []string, err error) error {
	if err == nil {
		return nil
	}
	prefix := cmd
	if len(args) > 0 {
		prefix += " " + args[0]
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// send performs one request, with a progress bar on a terminal for long work.
func send(c *cli.Context, req api.Request) (json.RawMessage, error) {
	conn, err := Dial(c.String("socket"))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var progress func(api.Progress)
	if !c.Bool("quiet") && isTerminal(os.Stderr) {
		b := &bar{w: c.App.ErrWriter, label: req.Cmd}
		defer b.finish()
		progress = b.update
	}
	return conn.Do(req, progress)
}

func version(c *cli.Context) error {
	fmt.Fprintln(c.App.Writer, "initns client", versionString())
	res, err := send(c, api.Request{Cmd: "version"})
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
		res, err := send(c, api.Request{Cmd: "ls", Args: []string{what[i]}})
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

func versionString() string { return Version }

// Version is set at link time.
var Version = "dev"
