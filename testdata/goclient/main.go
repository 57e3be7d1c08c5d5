// Command goclient is the smallest Go client of the init daemon's socket,
// for the latency benchmark (daemon/client_bench_test.go): what any Go
// client pays for the Go runtime's start, beside the static C client
// (testdata/cclient) and initns itself. It does what cclient does, in the
// same system calls: usage goclient SOCKET LINE; it sends LINE and a
// newline, reads the answer and exits 0 on success ("ok\n\n" in the
// compatibility mode, a final reply without an error in the client mode).
package main

import (
	"bytes"
	"os"
	"syscall"
)

func main() {
	if len(os.Args) != 3 {
		os.Exit(2)
	}
	os.Exit(request(os.Args[1], os.Args[2]))
}

func request(socket, line string) int {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil || syscall.Connect(fd, &syscall.SockaddrUnix{Name: socket}) != nil {
		return 1
	}
	if _, err := syscall.Write(fd, []byte(line+"\n")); err != nil {
		return 1
	}
	client := line[0] == '{'
	var buf []byte
	b := make([]byte, 4096)
	for {
		n, err := syscall.Read(fd, b)
		if n <= 0 || err != nil {
			return 1
		}
		buf = append(buf, b[:n]...)
		switch {
		case !client && (string(buf) == "\n" || bytes.HasSuffix(buf, []byte("\n\n"))):
			return boolStatus(string(buf) == "ok\n\n")
		case client && buf[len(buf)-1] == '\n' && bytes.Contains(buf, []byte(`"done":true`)):
			return boolStatus(!bytes.Contains(buf, []byte(`"error"`)))
		}
	}
}

func boolStatus(ok bool) int {
	if ok {
		return 0
	}
	return 1
}
