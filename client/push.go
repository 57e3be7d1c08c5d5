package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"initns/proto"
)

func pushCommand(c *cli.Context) error {
	args := c.Args().Slice()
	if err := arity("push", args); err != nil {
		return err
	}
	return named("push", args, push(c, args[0], args[1]))
}

func push(c *cli.Context, image, dst string) error {
	ctx, cancel := signalContext()
	defer cancel()
	o, done, err := fetchOptions(c, "push")
	if err != nil {
		return err
	}
	defer done()
	if err := os.MkdirAll(o.Cache, 0o700); err != nil {
		return fmt.Errorf("download cache: %w", err)
	}
	tmp, err := os.CreateTemp(o.Cache, "push-*.image")
	if err != nil {
		return fmt.Errorf("download cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := export(ctx, c, image, tmp); err != nil {
		return err
	}
	digest, err := o.Push(ctx, tmp.Name(), dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s: %s (%s)\n", image, dst, digest)
	return nil
}

// export copies image out of the daemon's images/ into w, through a pipe
// the daemon writes, and checks it against the daemon's own count and
// digest.
func export(ctx context.Context, c *cli.Context, image string, w io.Writer) error {
	r, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	conn, err := Dial(c.String("socket"))
	if err != nil {
		pw.Close()
		return err
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { conn.HangUp(); r.Close() })()
	type copied struct {
		n   int64
		sum string
		err error
	}
	got := make(chan copied, 1)
	go func() {
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), r)
		got <- copied{n, hex.EncodeToString(h.Sum(nil)), err}
	}()
	res, err := conn.DoWith(proto.Request{Cmd: "export", Args: []string{image}}, []int{int(pw.Fd())}, nil)
	pw.Close() // the daemon's copy was closed when it answered: the reader sees the end
	cp := <-got
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	var er proto.ExportResult
	if err := json.Unmarshal(res, &er); err != nil {
		return err
	}
	if cp.err != nil || cp.n != er.Size || cp.sum != er.SHA256 {
		return fmt.Errorf("reading image %s from the daemon broke off (%d of %d bytes): %v", image, cp.n, er.Size, cp.err)
	}
	return nil
}
