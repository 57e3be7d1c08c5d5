package client

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"initns/proto"
)

// execOptions are exec's command line: options, NAME, then the command.
type execOptions struct {
	name       string
	argv       []string
	tty, noTTY bool
	user, cwd  string
	env        []string
	help       bool
}

// parseExec reads `exec [OPTIONS] NAME [OPTIONS] [--] CMD [ARGS...]`.
// Options come before the command; after NAME, a "--" or the first word
// that is not an option starts it, so the command's own flags stay its.
func parseExec(args []string) (execOptions, error) {
	var o execOptions
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			o.argv = args[i+1:]
			return o, o.check()
		case !strings.HasPrefix(a, "-") || a == "-":
			if o.name == "" {
				o.name = a
				continue
			}
			o.argv = args[i:]
			return o, o.check()
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		var target *string
		switch name {
		case "t", "tty":
			o.tty = true
		case "T", "no-tty":
			o.noTTY = true
		case "h", "help":
			o.help = true
		case "user", "u":
			target = &o.user
		case "cwd", "w":
			target = &o.cwd
		case "env", "e":
			o.env = append(o.env, "")
			target = &o.env[len(o.env)-1]
		default:
			return o, usageErr{fmt.Sprintf("exec: unknown option %s: see initns exec --help", a)}
		}
		if target == nil {
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return o, usageErr{fmt.Sprintf("exec: %s wants a value", a)}
			}
			i++
			value = args[i]
		}
		*target = value
	}
	return o, o.check()
}

func (o execOptions) check() error {
	switch {
	case o.help:
		return nil
	case o.name == "" || len(o.argv) == 0:
		return usageErr{"exec: wants NAME and a command: initns exec [OPTIONS] NAME -- CMD [ARGS...]"}
	case o.tty && o.noTTY:
		return usageErr{"exec: -t and -T contradict each other"}
	}
	for _, e := range o.env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return usageErr{fmt.Sprintf("exec: --env %q: want KEY=VALUE", e)}
		}
	}
	return nil
}

// wantTTY decides, as incus exec does, whether the command gets a
// terminal of its own: when stdin and stdout are both terminals, unless
// -t forces one or -T refuses one.
func wantTTY(force, refuse bool) bool {
	if force || refuse {
		return force
	}
	return isTerminal(os.Stdin) && isTerminal(os.Stdout)
}

// execCommand runs a command inside a running instance and exits with
// its status.
func execCommand(c *cli.Context) error {
	o, err := parseExec(c.Args().Slice())
	if err != nil {
		return err
	}
	if o.help {
		// The app's context knows its commands; exec's own has none.
		return cli.ShowCommandHelp(c.Lineage()[1], "exec")
	}
	req := proto.Request{Cmd: "exec", Args: append([]string{o.name}, o.argv...), User: o.user, Cwd: o.cwd}
	return runInstance(c, req, o.env, wantTTY(o.tty, o.noTTY))
}

// shellCommand opens a login shell inside a running instance.
func shellCommand(c *cli.Context) error {
	args := c.Args().Slice()
	if err := arity("shell", args); err != nil {
		return err
	}
	if c.Bool("tty") && c.Bool("no-tty") {
		return usageErr{"shell: -t and -T contradict each other"}
	}
	return runInstance(c, proto.Request{Cmd: "shell", Args: args}, nil, wantTTY(c.Bool("tty"), c.Bool("no-tty")))
}

// runInstance sends exec's or shell's request and ends the client with
// the command's status.
func runInstance(c *cli.Context, req proto.Request, env []string, tty bool) error {
	if term := os.Getenv("TERM"); term != "" {
		req.Env = append(req.Env, "TERM="+term)
	}
	req.Env = append(req.Env, env...)
	var status int
	var err error
	if tty {
		status, err = runTTY(c.String("socket"), req)
	} else {
		status, err = runExec(c.String("socket"), req)
	}
	if err != nil {
		return named(req.Cmd, req.Args, err)
	}
	return cli.Exit("", status)
}

// runExec runs the command with this process's stdin, stdout and stderr.
func runExec(socket string, req proto.Request) (int, error) {
	conn, err := Dial(socket)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	// Ctrl+C or a hangup ends this client; closing the connection tells
	// the daemon to end the command too.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	go func() { <-sig; conn.HangUp() }()
	res, err := conn.DoWith(req, []int{0, 1, 2}, nil)
	if err != nil {
		return 0, err
	}
	return execStatus(res)
}

func execStatus(res json.RawMessage) (int, error) {
	var r proto.ExecResult
	if err := json.Unmarshal(res, &r); err != nil {
		return 0, err
	}
	return r.Status, nil
}
