package client

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"initns/proto"
)

// execCommand runs a command inside a running instance with this
// process's stdin, stdout and stderr, and exits with its status.
func execCommand(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) > 1 && args[1] == "--" {
		args = append(args[:1], args[2:]...)
	}
	if len(args) < 2 {
		return usageErr{"exec: wants NAME and a command: initns exec NAME -- CMD [ARGS...]"}
	}
	req := proto.Request{Cmd: "exec", Args: args, Env: []string{"TERM=" + os.Getenv("TERM")}}
	status, err := runExec(c.String("socket"), req)
	if err != nil {
		return named("exec", args, err)
	}
	return cli.Exit("", status)
}

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
	data, _ := json.Marshal(req)
	if err := unix.Sendmsg(conn.fd, append(data, '\n'), unix.UnixRights(0, 1, 2), nil, 0); err != nil {
		return 0, fmt.Errorf("send to daemon: %w", err)
	}
	res, err := conn.wait(nil)
	if err != nil {
		return 0, err
	}
	var r proto.ExecResult
	if err := json.Unmarshal(res, &r); err != nil {
		return 0, err
	}
	return r.Status, nil
}
