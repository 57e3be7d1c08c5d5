package vmtest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"time"
)

// Monitor is a connection to QEMU's human monitor on a unix socket.
type Monitor struct {
	conn net.Conn
	r    *bufio.Reader
}

// DialMonitor connects to the monitor socket, retrying while QEMU starts,
// and reads the greeting.
func DialMonitor(path string, timeout time.Duration) (*Monitor, error) {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.Dial("unix", path)
		if err == nil {
			m := &Monitor{conn: conn, r: bufio.NewReader(conn)}
			if _, err := m.readPrompt(timeout); err != nil {
				conn.Close()
				return nil, fmt.Errorf("monitor %s greeting: %w", path, err)
			}
			return m, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("monitor %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Command sends one monitor command (such as "sendkey ctrl-alt-delete" or
// "system_reset") and returns what QEMU answered before its next prompt.
func (m *Monitor) Command(cmd string) (string, error) {
	if _, err := fmt.Fprintf(m.conn, "%s\n", cmd); err != nil {
		return "", fmt.Errorf("monitor %q: %w", cmd, err)
	}
	out, err := m.readPrompt(10 * time.Second)
	if err != nil {
		return out, fmt.Errorf("monitor %q: %w", cmd, err)
	}
	return out, nil
}

// readPrompt reads until the "(qemu) " prompt.
func (m *Monitor) readPrompt(timeout time.Duration) (string, error) {
	m.conn.SetReadDeadline(time.Now().Add(timeout))
	var b strings.Builder
	for !strings.HasSuffix(b.String(), "(qemu) ") {
		c, err := m.r.ReadByte()
		if err != nil {
			return b.String(), err
		}
		b.WriteByte(c)
	}
	return strings.TrimSuffix(b.String(), "(qemu) "), nil
}

// Close closes the connection; QEMU keeps running.
func (m *Monitor) Close() error { return m.conn.Close() }
