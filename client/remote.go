package client

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"initns/proto"
)

// remoteCommand is `remote ls|add|rm`: the image servers, kept by the
// daemon in its state root.
func remoteCommand(c *cli.Context) error {
	res, err := query(c, "remote")
	if err != nil || c.Args().First() != "ls" {
		return err
	}
	var rs []proto.Remote
	if err := json.Unmarshal(res, &rs); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tURL")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\n", r.Name, r.URL)
	}
	return tw.Flush()
}

// remotes returns the image servers by name.
func remotes(c *cli.Context) (map[string]string, error) {
	res, err := send(c, proto.Request{Cmd: "remote", Args: []string{"ls"}})
	if err != nil {
		return nil, err
	}
	var rs []proto.Remote
	if err := json.Unmarshal(res, &rs); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, r := range rs {
		m[r.Name] = r.URL
	}
	return m, nil
}
