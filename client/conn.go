package client

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"initns/proto"
)

// Conn is a client-mode connection to the daemon: a blocking socket read
// and written with plain system calls. Package net would give the one
// request of a command an epoll instance, a non-blocking connect and a
// goroutine parked in the scheduler, which a command typed at a shell pays
// for in start-up time and gets nothing back.
type Conn struct {
	fd int
	c  *os.File
	r  *bufio.Reader
}

// Dial connects to the daemon's socket.
func Dial(socket string) (*Conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: socket}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("cannot reach the init daemon at %s (is it running? --socket or INITNS_SOCKET name another): connect: %w", socket, err)
	}
	f := os.NewFile(uintptr(fd), socket)
	return &Conn{fd: fd, c: f, r: bufio.NewReader(f)}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// HangUp ends the connection both ways while another goroutine may be
// reading it: its read returns at once, and the daemon sees the client
// gone. Close alone would wait for that read to end (the socket is
// blocking).
func (c *Conn) HangUp() { unix.Shutdown(c.fd, unix.SHUT_RDWR) }

// Do sends one request and waits for its final reply, passing progress
// events to progress (which may be nil). A failed request is an *proto.Error.
func (c *Conn) Do(req proto.Request, progress func(proto.Progress)) (json.RawMessage, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.c.Write(append(data, '\n')); err != nil {
		// A refused peer's connection is closed at once; the reason is
		// the one line the daemon wrote before closing.
		if line, rerr := c.r.ReadString('\n'); rerr == nil {
			return nil, &proto.Error{Code: proto.CodeFailed, Message: strings.TrimSpace(line)}
		}
		return nil, fmt.Errorf("send to daemon: %w", err)
	}
	return c.wait(progress)
}

// DoWith is Do with descriptors passed on the request's message
// (SCM_RIGHTS): exec's stdio, import's file, export's pipe.
func (c *Conn) DoWith(req proto.Request, fds []int, progress func(proto.Progress)) (json.RawMessage, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if err := unix.Sendmsg(c.fd, append(data, '\n'), unix.UnixRights(fds...), nil, 0); err != nil {
		return nil, fmt.Errorf("send to daemon: %w", err)
	}
	return c.wait(progress)
}

// wait reads replies until the final one.
func (c *Conn) wait(progress func(proto.Progress)) (json.RawMessage, error) {
	for {
		line, err := c.r.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("daemon closed the connection: %w", err)
		}
		var rep proto.Reply
		if err := json.Unmarshal(line, &rep); err != nil {
			// A peer refused by the daemon gets one plain error line.
			return nil, &proto.Error{Code: proto.CodeFailed, Message: string(line[:len(line)-1])}
		}
		if rep.Progress != nil && progress != nil {
			progress(*rep.Progress)
		}
		if !rep.Done {
			continue
		}
		if rep.Error != "" {
			return nil, &proto.Error{Code: rep.Code, Message: rep.Error}
		}
		return rep.Result, nil
	}
}
