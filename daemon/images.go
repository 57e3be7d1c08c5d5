package daemon

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"initns/proto"
	"initns/store"
)

// The daemon does no network I/O for pull and push: the client downloads
// and verifies, and hands the daemon a regular file (import); push reads
// an image through a pipe the client passes (export). PID 1 never parses
// what a server sends, and the user's credentials and proxies stay in the
// user's process (README, "Pulling and pushing images").

// cmdImport publishes the client's verified download as a new image: a
// regular file with its SHA-256, or (SHA256 "oci-layout") an OCI layout
// archive streamed through a pipe, verified blob by blob.
func (d *Daemon) cmdImport(c *call) (any, error) {
	image, sum, source, digest := c.args[0], c.args[1], c.args[2], c.args[3]
	f, err := passedFile(c, "import", "the downloaded file")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	origin := store.Origin{Source: source, Digest: digest}
	if sum != store.LayoutStream {
		unchanged, err := d.store.Import(c.ctx, image, f, sum, origin, c.progress)
		return proto.ImportResult{Unchanged: unchanged}, err
	}
	// A stream from the client's pipe: a client that goes away ends the
	// read at once, and one that stops writing is given up.
	unchanged, err := d.store.ImportLayout(c.ctx, image, newStallPipe(c, f), origin, c.progress)
	return proto.ImportResult{Unchanged: unchanged}, err
}

func (d *Daemon) cmdExport(c *call) (any, error) {
	f, err := passedFile(c, "export", "a pipe to write the image into")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, sum, err := d.store.Export(c.ctx, c.args[0], newStallPipe(c, f))
	if err != nil {
		return nil, err
	}
	return proto.ExportResult{Size: n, SHA256: sum}, nil
}

// passedFile is the one descriptor a request passed, as a file of its own
// (a duplicate: the session closes what it received).
func passedFile(c *call, verb, what string) (*os.File, error) {
	if len(c.fds) != 1 {
		return nil, fmt.Errorf("%w: %s needs %s passed with the request (use the initns client)", proto.ErrUsage, verb, what)
	}
	fd, err := unix.FcntlInt(uintptr(c.fds[0]), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO {
		unix.SetNonblock(fd, true)
	}
	return os.NewFile(uintptr(fd), what), nil
}

// pipeStall bounds how long import waits for a client that does not
// write its pipe, and export for one that does not read it.
const pipeStall = time.Minute

// stallPipe is a client's pipe, non-blocking so that its reads and
// writes wait in Go's poller: each fails once it has waited longer than
// stall, or at once when the request is cancelled (the client went away).
type stallPipe struct {
	ctx context.Context
	f   *os.File
}

func newStallPipe(c *call, f *os.File) *stallPipe {
	context.AfterFunc(c.ctx, func() { f.SetDeadline(time.Now()) })
	return &stallPipe{ctx: c.ctx, f: f}
}

// arm sets the deadline of the next read or write. A cancellation that
// came before it wins: the AfterFunc's deadline may have been set first.
func (p *stallPipe) arm() {
	p.f.SetDeadline(time.Now().Add(pipeStall))
	if p.ctx.Err() != nil {
		p.f.SetDeadline(time.Now())
	}
}

func (p *stallPipe) Read(b []byte) (int, error) {
	p.arm()
	return p.f.Read(b)
}

func (p *stallPipe) Write(b []byte) (int, error) {
	p.arm()
	return p.f.Write(b)
}

func (d *Daemon) cmdRemote(c *call) (any, error) {
	switch {
	case c.args[0] == "ls" && len(c.args) == 1:
		return d.store.Remotes()
	case c.args[0] == "add" && len(c.args) == 3:
		return nil, d.store.AddRemote(c.args[1], c.args[2])
	case c.args[0] == "rm" && len(c.args) == 2:
		return nil, d.store.RemoveRemote(c.args[1])
	}
	return nil, fmt.Errorf("%w: remote ls, remote add NAME URL or remote rm NAME", proto.ErrUsage)
}
