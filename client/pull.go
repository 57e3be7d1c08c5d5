package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"initns/fetch"
	"initns/proto"
	"initns/store"
)

// The client does the network I/O of pull and push, with the user's
// credentials, proxy and cache; the daemon only publishes the verified
// file it is handed (import) and reads images out (export). See the
// README, "Pulling and pushing images".

// signalContext is cancelled by Ctrl+C, SIGTERM or a hangup: a download
// stops, keeping what it has for the next pull to resume.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
}

// fetchOptions are the download options the command line gives.
func fetchOptions(c *cli.Context, label string) (*fetch.Options, func(), error) {
	dir, err := fetch.CacheDir()
	if err != nil {
		return nil, nil, err
	}
	o := &fetch.Options{Cache: dir, Stall: c.Duration("timeout"), Creds: c.String("creds")}
	done := func() {}
	if !c.Bool("quiet") && isTerminal(os.Stderr) {
		b := &bar{w: c.App.ErrWriter, label: label}
		o.Progress = func(d, t int64) { b.update(proto.Progress{Done: d, Total: t}) }
		done = b.finish
	}
	return o, done, nil
}

func pullCommand(c *cli.Context) error {
	args := c.Args().Slice()
	if err := arity("pull", args); err != nil {
		return err
	}
	err := pull(c, args)
	if errors.Is(err, context.Canceled) {
		err = fmt.Errorf("interrupted: pull again to resume the download")
	}
	return named("pull", args, err)
}

func pull(c *cli.Context, args []string) error {
	if len(args) == 2 {
		// Said now, not after the download.
		if err := store.ValidImageName(args[1]); err != nil {
			return usageErr{err.Error()}
		}
	}
	ctx, cancel := signalContext()
	defer cancel()
	o, done, err := fetchOptions(c, "pull")
	if err != nil {
		return err
	}
	var rs map[string]string
	if !strings.Contains(args[0], "://") {
		if rs, err = remotes(c); err != nil {
			return err
		}
	}
	plan, err := o.Resolve(ctx, args[0], c.String("sha256"), rs)
	if err != nil {
		return err
	}
	image := plan.Name
	if len(args) == 2 {
		image = args[1]
	}
	if there, err := alreadyThere(c, image, plan.Digest); there || err != nil {
		if there {
			fmt.Fprintf(c.App.Writer, "%s is already there (%s)\n", image, plan.Digest)
		}
		return err
	}
	dl, err := plan.Fetch(ctx, o)
	done()
	if err != nil {
		return err
	}
	if err := importFile(ctx, c, dl, image, plan); err != nil {
		return err
	}
	fetch.Forget(dl.Cached)
	fmt.Fprintf(c.App.Writer, "%s: %s (%s)\n", image, plan.Source, plan.Digest)
	return nil
}

// alreadyThere reports whether image exists from the same digest; one of
// another origin is an error, said before anything is downloaded.
func alreadyThere(c *cli.Context, image, digest string) (bool, error) {
	res, err := send(c, proto.Request{Cmd: "ls"})
	if err != nil {
		return false, err
	}
	var l proto.List
	if err := json.Unmarshal(res, &l); err != nil {
		return false, err
	}
	for _, i := range l.Images {
		switch {
		case i.Name != image:
		case i.Digest == digest:
			return true, nil
		case i.Digest != "":
			return false, fmt.Errorf("image %s exists, pulled from %s (%s): name the new one (initns pull SOURCE IMAGE) or delete it first", image, i.Source, i.Digest)
		default:
			return false, fmt.Errorf("image %s exists: name the new one (initns pull SOURCE IMAGE) or delete it first", image)
		}
	}
	return false, nil
}

// importFile hands the verified download to the daemon, which copies it
// into images/ while checking it again: a file with its SHA-256, or an
// OCI layout archive streamed through a pipe, blob by blob.
func importFile(ctx context.Context, c *cli.Context, dl fetch.Download, image string, plan *fetch.Plan) error {
	conn, err := Dial(c.String("socket"))
	if err != nil {
		return err
	}
	defer conn.Close()
	// Ctrl+C closes the connection, which cancels the import.
	defer context.AfterFunc(ctx, conn.HangUp)()
	var progress func(proto.Progress)
	if !c.Bool("quiet") && isTerminal(os.Stderr) {
		b := &bar{w: c.App.ErrWriter, label: "publish"}
		defer b.finish()
		progress = b.update
	}
	args := []string{image, dl.SHA256, plan.Source, plan.Digest}
	var f *os.File
	wrote := make(chan error, 1)
	if dl.File != "" {
		if f, err = os.Open(dl.File); err != nil {
			return err
		}
		wrote <- nil
	} else {
		var w *os.File
		if f, w, err = os.Pipe(); err != nil {
			return err
		}
		args[1] = store.LayoutStream
		go func() {
			err := dl.WriteLayout(w)
			w.Close()
			wrote <- err
		}()
	}
	_, err = conn.DoWith(proto.Request{Cmd: "import", Args: args}, []int{int(f.Fd())}, progress)
	// The daemon holds its own copy: a writer blocked on a daemon that
	// refused must see the pipe closed.
	f.Close()
	werr := <-wrote
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return err
	case werr != nil:
		return fmt.Errorf("write the image to the daemon: %w", werr)
	}
	return nil
}
