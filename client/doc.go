// Package client is the initns command line: the urfave/cli commands of
// SPEC §4, which speak the daemon's client mode (package proto) over its
// socket, show progress bars for long work, and turn outcomes into exit
// statuses (0 success, 1 failure, 2 usage).
package client
