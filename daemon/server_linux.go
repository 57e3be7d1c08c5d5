package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"initns/daemon/internal/procstatus"
	"initns/proto"
)

// listen creates the socket: mode 0600, or 0660 owned by group initns if
// that group exists, whatever stale file or symlink was at the path.
func listen(path string) (*net.UnixListener, error) {
	if serving(path) {
		return nil, fmt.Errorf("socket %s: another daemon is serving it; stop that one first", path)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.IsDir() {
			return nil, fmt.Errorf("socket %s: a directory is in the way; remove it", path)
		}
		// A stale socket, file or symlink: never follow it, just drop it.
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("socket %s: remove stale file: %w", path, err)
		}
	}
	// The umask makes the socket private from its creation on: chmod after
	// bind would leave a window in which anyone could connect.
	old := syscall.Umask(0o177)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false)
	if gid, ok := initnsGroup(); ok {
		if err := os.Lchown(path, 0, gid); err == nil {
			os.Chmod(path, 0o660)
		}
	}
	return l, nil
}

// serving tells whether a daemon answers on the socket. A connection alone
// proves nothing: a child forked by a daemon that was just killed holds the
// listening socket until its exec, and accepts nothing.
func serving(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("{\"cmd\":\"version\"}\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "{")
}

// initnsGroup returns the gid of group initns, if it exists.
func initnsGroup() (int, bool) {
	g, err := user.LookupGroup("initns")
	if err != nil {
		return 0, false
	}
	gid, err := strconv.Atoi(g.Gid)
	return gid, err == nil
}

// serve accepts connections until the listener closes. At most
// cfg.MaxConns are served at once; one past them is told so in one line
// and closed, without a goroutine of its own.
func (d *Daemon) serve(l *net.UnixListener) {
	open := make(chan struct{}, d.cfg.MaxConns)
	full := false // the cap was reached; logged once until a connection is served again
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.Error("accept", "err", err)
			time.Sleep(10 * time.Millisecond) // EMFILE: let descriptors free up
			continue
		}
		select {
		case open <- struct{}{}:
			full = false
			spawn(d.log, "connection", func() {
				defer func() { <-open }()
				d.conn(c)
			})
		default:
			if !full {
				d.log.Warn("connections refused: the cap is reached", "max_connections", d.cfg.MaxConns)
				full = true
			}
			refuseBusy(c, d.cfg.MaxConns)
		}
	}
}

// refuseBusy tells a connection past the cap why it is closed. The socket
// is new, so its send buffer has room for the line and the write cannot
// block the accept loop; the deadline makes sure.
func refuseBusy(c *net.UnixConn, most int) {
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	fmt.Fprintf(c, "error: busy: %d connections open, the most the daemon serves at once; try again when one closes\n", most)
	c.Close()
}

// peer is who is on the other end of a connection.
type peer struct {
	pid, uid int
}

func (d *Daemon) conn(c *net.UnixConn) {
	defer c.Close()
	p, err := peerOf(c)
	if err != nil || !allowed(p) {
		d.log.Warn("refused", "peer_pid", p.pid, "peer_uid", p.uid, "err", err)
		c.Write([]byte("error: permission denied: only root and members of group initns may use initns\n"))
		return
	}
	w := newWire(c, d.cfg.IdleTimeout, d.cfg.LineTimeout)
	defer w.closeFDs()
	d.session(w, w, p)
}

// session is one connection's requests, read in order.
type session struct {
	br       *bufio.Reader
	w        io.Writer
	p        peer
	wire     *wire // nil when not reading a socket (the fuzz tests)
	consumed int64 // bytes of request lines read so far
}

// session serves the requests of one connection, in either mode, until
// the peer stops sending, stays idle too long, or sends a line that cannot
// be a request.
func (d *Daemon) session(r io.Reader, w io.Writer, p peer) {
	s := &session{br: bufio.NewReaderSize(r, proto.MaxLine), w: w, p: p}
	s.wire, _ = r.(*wire)
	for {
		line, err := s.next()
		if err != nil {
			switch {
			case errors.Is(err, errIdle):
				d.log.Info("idle connection closed", "peer_pid", p.pid, "err", err)
			case !errors.Is(err, errEOF):
				badLine(w, line, err)
				d.log.Warn("bad request", "peer_pid", p.pid, "err", err)
			}
			return
		}
		s.consumed += int64(len(line)) + 1
		fds := s.takeFDs()
		if strings.HasPrefix(line, "{") {
			if last := d.clientRequest(s, line, fds); last {
				return
			}
		} else {
			closeAll(fds) // no compatibility-mode request takes descriptors
			d.compatRequest(s, line)
		}
	}
}

// errClientGone cancels the request of a client that went away.
var errClientGone = errors.New("the client went away")

// request returns the context of a request about to run, cancelled if the
// client goes away while it runs (the store then leaves nothing half
// made), and what ends it once its answer is written.
func (d *Daemon) request(s *session) (context.Context, func()) {
	if s.wire == nil {
		return context.Background(), func() {}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := s.wire.watch(s.br, func() { cancel(errClientGone) }, d.log)
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// next reads the next request line. On a socket, the wait for its first
// byte is bounded by the idle timeout and the rest of it by the line
// timeout; while the request then runs, no deadline applies.
func (s *session) next() (string, error) {
	if s.wire == nil {
		return readLine(s.br)
	}
	if err := s.wire.awaitLine(s.br); err != nil {
		return "", err
	}
	line, err := readLine(s.br)
	s.wire.running()
	return line, err
}

// badLine answers what cannot be a request, in the mode its first byte
// names.
func badLine(w io.Writer, partial string, err error) {
	if strings.HasPrefix(partial, "{") {
		json.NewEncoder(w).Encode(proto.Reply{Done: true, Code: proto.CodeUsage, Error: "bad request: " + err.Error()})
		return
	}
	w.Write([]byte(answerSyntax))
}

// takeFDs returns the descriptors that came with the request lines read so
// far; the caller owns them.
func (s *session) takeFDs() []int {
	if s.wire == nil {
		return nil
	}
	return s.wire.take(s.consumed)
}

var errEOF = errors.New("end of requests")

// readLine reads one request line of at most proto.MaxLine bytes, which may
// arrive in several reads. On an error it returns what came of the line.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	switch {
	case err == nil:
		return string(line[:len(line)-1]), nil
	case errors.Is(err, bufio.ErrBufferFull):
		return string(line), fmt.Errorf("request longer than %d bytes", proto.MaxLine)
	case len(line) == 0:
		return "", errEOF
	case errors.Is(err, errLineTimeout):
		return string(line), err
	}
	return string(line), fmt.Errorf("request not ended by a newline: %w", err)
}

func peerOf(c *net.UnixConn) (peer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return peer{pid: -1, uid: -1}, err
	}
	var cred *unix.Ucred
	var cerr error
	raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if cerr != nil {
		return peer{pid: -1, uid: -1}, cerr
	}
	return peer{pid: int(cred.Pid), uid: int(cred.Uid)}, nil
}

// allowed: root, or a member of group initns (primary or supplementary).
func allowed(p peer) bool {
	if p.uid == 0 {
		return true
	}
	gid, ok := initnsGroup()
	return ok && procstatus.InGroup(p.pid, gid)
}

func (d *Daemon) compatRequest(s *session, line string) {
	verb, args := parseCompat(line)
	if verb == "ls" && len(args) == 0 {
		// The first versions knew only `ls image` and `ls instance`.
		s.w.Write([]byte(answerSyntax))
		return
	}
	ctx, done := d.request(s)
	defer done()
	result, err := d.handle(ctx, s.p, verb, &call{args: args})
	s.w.Write([]byte(compatAnswer(result, err)))
}

// clientRequest serves one client-mode request, which owns fds, the
// descriptors that came with it. It reports whether the request ends the
// session: exec does, as the protocol says (package proto).
func (d *Daemon) clientRequest(s *session, line string, fds []int) (last bool) {
	enc := json.NewEncoder(s.w)
	defer closeAll(fds)
	var req proto.Request
	if err := json.Unmarshal([]byte(line), &req); err != nil {
		enc.Encode(proto.Reply{Done: true, Code: proto.CodeUsage, Error: "bad request: " + err.Error()})
		return false
	}
	cl := &call{args: req.Args, kill: req.Kill, timeout: req.Timeout, progress: progressTo(enc),
		fds: fds, env: req.Env, overlay: req.Overlay, strict: req.Strict}
	ctx, done := d.request(s)
	defer done()
	// exec learns of a client gone as every request does, and kills its
	// command.
	cl.hangup = ctx.Done()
	cl.req = &req
	if s.wire != nil {
		cl.sendFD = s.wire.writeFD
	}
	result, err := d.handle(ctx, s.p, req.Cmd, cl)
	enc.Encode(reply(result, err))
	return req.Cmd == "exec" || req.Cmd == "shell"
}

func reply(result any, err error) proto.Reply {
	if err != nil {
		return proto.Reply{Done: true, Code: errorCode(err), Error: err.Error()}
	}
	r := proto.Reply{Done: true}
	if result != nil {
		r.Result, _ = json.Marshal(result)
	}
	return r
}

// progressTo sends progress events to the client, at most ten a second.
func progressTo(enc *json.Encoder) func(done, total int64) {
	var last time.Time
	return func(done, total int64) {
		if now := time.Now(); now.Sub(last) >= 100*time.Millisecond || done == total {
			last = now
			enc.Encode(proto.Reply{Progress: &proto.Progress{Done: done, Total: total}})
		}
	}
}

// dispatch runs one request of either mode, logs it, and turns a panic in
// its handler into that request's error: nothing in a request may take the
// daemon down.
func (d *Daemon) dispatch(ctx context.Context, p peer, verb string, c *call) (result any, err error) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
			d.log.Error("panic in request", "command", verb, "panic", r, "stack", string(debug.Stack()))
		}
		level := slog.LevelInfo
		if err != nil {
			level = slog.LevelWarn
		}
		attrs := []any{"peer_pid", p.pid, "peer_uid", p.uid, "command", verb,
			"args", c.args, "ok", err == nil, "err", err, "duration", time.Since(start)}
		if ctx.Err() != nil {
			attrs = append(attrs, "cancelled", context.Cause(ctx).Error())
		}
		d.log.Log(ctx, level, "request", attrs...)
		releaseMemory(d.log)
	}()
	cmd, ok := commands[verb]
	if !ok || (cmd.Debug && !d.cfg.Debug) {
		return nil, fmt.Errorf("unknown command %q: %w (try help)", verb, proto.ErrUsage)
	}
	if len(c.args) < cmd.Min || len(c.args) > cmd.Max {
		return nil, fmt.Errorf("%w: %s", proto.ErrUsage, cmd.Usage())
	}
	c.ctx = ctx
	return cmd.run(d, c)
}
