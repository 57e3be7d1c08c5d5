package client

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"initns/internal/term"
	"initns/proto"
)

// runTTY runs the command on a terminal of its own, made inside the
// instance: the daemon sends the terminal's master back, and this client
// relays its own terminal to it both ways, in raw mode so that Ctrl+C,
// Ctrl+Z and Ctrl+\ are bytes that reach the foreground job inside. The
// daemon keeps no copy of the master: when this client dies, the master's
// last close hangs the command's session up. The user's terminal is
// restored on every way out: the command's end, a signal, the daemon
// going away.
func runTTY(socket string, req proto.Request) (int, error) {
	req.TTY = true
	if ws, err := windowSize(); err == nil {
		req.Rows, req.Cols = ws.Row, ws.Col
	}
	conn, err := Dial(socket)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	data, _ := json.Marshal(req)
	if _, err := conn.c.Write(append(data, '\n')); err != nil {
		return 0, fmt.Errorf("send to daemon: %w", err)
	}
	master, res, err := conn.receivePTY()
	if err != nil || master == nil {
		// Refused before any terminal was made (not running, frozen,
		// not found, no devpts), or ended at once.
		if err != nil {
			return 0, err
		}
		return execStatus(res)
	}
	defer master.Close()
	return relay(conn, master)
}

// relay relays the user's terminal and master until the command ends or
// this client is signalled, and gives the terminal back either way.
func relay(conn *Conn, master *os.File) (int, error) {
	// Signals are caught before the terminal turns raw, so none can end
	// the client with the terminal left raw.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGWINCH, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)
	restore := rawMode(os.Stdin)
	defer restore()
	out := relayOut(master, os.Stdout)
	go relayIn(os.Stdin, master)
	done := make(chan error, 1)
	var result json.RawMessage
	go func() {
		var err error
		result, err = conn.wait(nil)
		done <- err
	}()
	for {
		select {
		case err := <-done:
			// What the command wrote before it ended may still be on
			// its way through the terminal.
			out.drain()
			if err != nil {
				return 0, err
			}
			return execStatus(result)
		case sig := <-sigs:
			if sig == unix.SIGWINCH {
				if ws, err := windowSize(); err == nil {
					unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws)
				}
				continue
			}
			// Killed from outside (a raw terminal sends no signals of
			// its own): give the terminal back and go; the master's
			// close hangs the session up.
			conn.HangUp()
			return 128 + int(sig.(unix.Signal)), nil
		}
	}
}

// receivePTY reads the daemon's first reply: the terminal's master, sent
// as a descriptor with its line, or the final reply of a request that
// ended before one was made. It reads the socket itself, not through the
// connection's buffer, which would drop the descriptor.
func (c *Conn) receivePTY() (*os.File, json.RawMessage, error) {
	var line []byte
	var fds []int
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4*proto.MaxFDs))
	for bytes.IndexByte(line, '\n') < 0 {
		n, oobn, _, _, err := unix.Recvmsg(c.fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err == nil && n == 0 {
			err = io.EOF
		}
		fds = append(fds, receivedFDs(oob[:max(oobn, 0)])...)
		line = append(line, buf[:max(n, 0)]...)
		if err != nil && bytes.IndexByte(line, '\n') < 0 {
			closeFDs(fds)
			return nil, nil, fmt.Errorf("daemon closed the connection: %w", err)
		}
	}
	i := bytes.IndexByte(line, '\n')
	c.r = bufio.NewReader(io.MultiReader(bytes.NewReader(line[i+1:]), c.c))
	var rep proto.Reply
	if err := json.Unmarshal(line[:i], &rep); err != nil {
		closeFDs(fds)
		return nil, nil, &proto.Error{Code: proto.CodeFailed, Message: string(line[:i])}
	}
	switch {
	case rep.PTY && len(fds) == 1:
		unix.SetNonblock(fds[0], true) // so that reads take deadlines
		return os.NewFile(uintptr(fds[0]), "pty"), nil, nil
	case rep.Done && rep.Error != "":
		closeFDs(fds)
		return nil, nil, &proto.Error{Code: rep.Code, Message: rep.Error}
	case rep.Done:
		closeFDs(fds)
		return nil, rep.Result, nil
	}
	closeFDs(fds)
	return nil, nil, fmt.Errorf("the daemon sent %q, not a terminal", line[:i])
}

func receivedFDs(oob []byte) []int {
	var fds []int
	msgs, _ := unix.ParseSocketControlMessage(oob)
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// windowSize is the user's window: stdin's, else stdout's.
func windowSize() (*unix.Winsize, error) {
	ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ)
	if err != nil {
		ws, err = unix.IoctlGetWinsize(1, unix.TIOCGWINSZ)
	}
	return ws, err
}

// rawMode puts f, if it is a terminal, in raw mode, and returns what
// restores it, once however often it is called.
func rawMode(f *os.File) (restore func()) {
	back, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return func() {}
	}
	var once sync.Once
	return func() { once.Do(back) }
}

// relayIn copies the user's input to the terminal. The end of input that
// is not a terminal (exec -t < file) is not passed on: an end-of-file
// character typed before the program has set its terminal's modes is
// lost in the change (the kernel keeps no EOF across a switch out of
// canonical mode), so the input must end the program itself (exit), as
// with ssh -tt.
func relayIn(in *os.File, master *os.File) {
	io.Copy(master, in)
}

// output copies the terminal's output to the user until the terminal has
// no writer left (EIO), or, once drain is called, until it is quiet.
type output struct {
	master *os.File
	done   chan struct{}
	mu     sync.Mutex
	ending bool
}

// quiet is how long the terminal may stay silent, after the command has
// ended, before the client stops relaying: a job left in the background
// may keep it open for ever.
const quiet = 200 * time.Millisecond

func relayOut(master *os.File, to io.Writer) *output {
	o := &output{master: master, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		buf := make([]byte, 32<<10)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				to.Write(buf[:n])
				o.extend()
			}
			if err != nil && !errors.Is(err, unix.EINTR) {
				return // EIO: no writer left; or past the deadline
			}
		}
	}()
	return o
}

func (o *output) extend() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ending {
		o.master.SetReadDeadline(time.Now().Add(quiet))
	}
}

// drain waits until the output has ended or gone quiet.
func (o *output) drain() {
	o.mu.Lock()
	o.ending = true
	o.master.SetReadDeadline(time.Now().Add(quiet))
	o.mu.Unlock()
	<-o.done
}
