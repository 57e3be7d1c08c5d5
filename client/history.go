package client

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"initns/proto"
)

// history prints the boot history: one line per boot and end, oldest
// first, or the events as JSON.
func history(c *cli.Context) error {
	res, err := query(c, "history")
	if err != nil {
		return err
	}
	var events []proto.Event
	if err := json.Unmarshal(res, &events); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, events)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tINSTANCE\tEVENT\tDETAIL")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Instance, e.Kind, eventDetail(e))
	}
	return tw.Flush()
}

// eventDetail says what an event adds: who asked for a boot; how an end
// ended, after how long, and whether it was a failed try; why an instance
// was marked failed.
func eventDetail(e proto.Event) string {
	switch e.Kind {
	case "end":
		s := e.How
		if e.Ran > 0 {
			s += ", after " + e.Ran.Round(time.Millisecond).String()
		}
		if e.Quick {
			s += " (too soon: a failed try)"
		}
		return s
	case "boot":
		return "asked by " + e.Why
	}
	return e.Why
}
