package client

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strings"

	"initns/proto"
)

// Conn is a client-mode connection to the daemon.
type Conn struct {
	c net.Conn
	r *bufio.Reader
}

// Dial connects to the daemon's socket.
func Dial(socket string) (*Conn, error) {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the init daemon at %s (is it running? --socket or INITNS_SOCKET name another): %w", socket, err)
	}
	return &Conn{c: c, r: bufio.NewReader(c)}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

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
