package client

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"initns/proto"
)

// query sends verb name with the command's positional arguments, checked
// as the daemon will, and returns the answer the client is to print.
func query(c *cli.Context, name string) (json.RawMessage, error) {
	args := c.Args().Slice()
	if err := arity(name, args); err != nil {
		return nil, err
	}
	res, err := send(c, proto.Request{Cmd: name, Args: args})
	return res, named(name, args, err)
}

func list(c *cli.Context) error {
	res, err := query(c, "ls")
	if err != nil {
		return err
	}
	if c.Args().Len() == 1 {
		var names []string
		if err := json.Unmarshal(res, &names); err != nil {
			return err
		}
		if c.Bool("json") {
			return printJSON(c.App.Writer, names)
		}
		for _, n := range names {
			fmt.Fprintln(c.App.Writer, n)
		}
		return nil
	}
	var l proto.List
	if err := json.Unmarshal(res, &l); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, l)
	}
	printTable(c.App.Writer, &l)
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printTable(w io.Writer, l *proto.List) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tTYPE\tINIT\tMODULES\tIMAGE\tSIZE\tDISK\tCREATED")
	for _, i := range l.Instances {
		state := i.State
		if i.Ended != "" && i.State == "stopped" {
			state += " (" + i.Ended + ")"
		}
		if i.Failed != "" {
			state += " FAILED"
		}
		disk := "-"
		if i.Disk > 0 {
			disk = size(i.Disk)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Name, state, i.Kind, i.Init, i.Modules, i.Image, size(i.Size), disk, i.Created.Local().Format("2006-01-02 15:04"))
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "IMAGE\tSIZE\tMODIFIED\tSOURCE\tDIGEST")
	for _, i := range l.Images {
		src, digest := "-", "-"
		if i.Source != "" {
			src, digest = i.Source, shortDigest(i.Digest)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.Name, size(i.Size), i.Modified.Local().Format("2006-01-02 15:04"), src, digest)
	}
	tw.Flush()
}

func diff(c *cli.Context) error {
	res, err := query(c, "diff")
	if err != nil {
		return err
	}
	var changes []proto.Change
	if err := json.Unmarshal(res, &changes); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, changes)
	}
	mark := map[string]string{"added": "A", "modified": "M", "deleted": "D"}
	for _, ch := range changes {
		fmt.Fprintf(c.App.Writer, "%s %s\n", mark[ch.Kind], ch.Path)
	}
	return nil
}

func setDefault(c *cli.Context) error {
	args := c.Args().Slice()
	switch {
	case len(args) > 1, len(args) == 1 && c.Bool("clear"):
		return usageErr{"default: initns default [NAME | --clear] [--fallback NAME|none] [--menu SECONDS]"}
	case c.Bool("clear"):
		args = []string{""}
	}
	if c.IsSet("fallback") {
		args = append(args, "fallback="+c.String("fallback"))
	}
	if c.IsSet("menu") {
		args = append(args, "menu="+c.String("menu"))
	}
	res, err := send(c, proto.Request{Cmd: "default", Args: args})
	if err != nil {
		return named("default", args, err)
	}
	var names []string
	json.Unmarshal(res, &names)
	for _, n := range names {
		fmt.Fprintln(c.App.Writer, n)
	}
	return nil
}

// shortDigest is a digest as people compare them: its algorithm and the
// first 12 hex digits (ls --json has it whole).
func shortDigest(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}
