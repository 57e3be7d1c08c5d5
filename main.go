// Command initns is one static binary that plays every role of the initns
// system-container manager, chosen by the base name of argv[0]:
//
//	init    the daemon (PID 1 at boot, or in the background on a host)
//	initns  the command-line client
//
// Under any other name the first argument names the role.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"initns/client"
	"initns/daemon"
)

var roles = map[string]func(args []string) int{
	"init":   daemon.Main,
	"initns": client.Main,
}

func main() {
	if role, ok := roles[filepath.Base(os.Args[0])]; ok {
		os.Exit(role(os.Args))
	}
	if len(os.Args) > 1 {
		if role, ok := roles[os.Args[1]]; ok {
			os.Exit(role(os.Args[1:]))
		}
	}
	fmt.Fprintf(os.Stderr, "usage: %s ROLE [ARGS...]\nroles:\n"+
		"  init     the daemon (PID 1 at boot, or in the background)\n"+
		"  initns   the command-line client\n"+
		"or install the role names as links: %s initns --install DIR\n",
		filepath.Base(os.Args[0]), os.Args[0])
	os.Exit(2)
}
