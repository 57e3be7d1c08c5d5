// Command sockcat sends compatibility-mode requests to the initns socket and
// prints each answer as it arrives, byte for byte, so VM tests can speak the
// protocol of SPEC §9 without the client:
//
//	sockcat SOCKET 'VERB ARG...' ['VERB ARG...'...]
//
// Each request is sent on the same connection, the next one after the
// answer to the previous one ended with "\n\n". It exits 0 if every answer
// arrived, 1 if the connection failed or closed early.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: sockcat SOCKET 'VERB ARG...'...")
		os.Exit(2)
	}
	if err := talk(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "sockcat:", err)
		os.Exit(1)
	}
}

func talk(path string, requests []string) error {
	conn, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for _, req := range requests {
		conn.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := fmt.Fprintf(conn, "%s\n", req); err != nil {
			return fmt.Errorf("send %q: %w", req, err)
		}
		if err := answer(r); err != nil {
			return fmt.Errorf("answer to %q: %w", req, err)
		}
	}
	return nil
}

// answer copies one answer, which ends with an empty line, to stdout. An
// empty body (no instances) makes the answer a lone "\n".
func answer(r *bufio.Reader) error {
	var got []byte
	for string(got) != "\n" && !bytes.HasSuffix(got, []byte("\n\n")) {
		b, err := r.ReadByte()
		if err != nil {
			os.Stdout.Write(got)
			return err
		}
		got = append(got, b)
	}
	_, err := os.Stdout.Write(got)
	return err
}
