package client

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// bashCompletion asks the client itself for the words that may follow
// (urfave/cli's --generate-bash-completion): commands, flags, and the
// instance and image names the daemon knows.
const bashCompletion = `_initns() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local words
	words=$("${COMP_WORDS[@]:0:COMP_CWORD}" --generate-bash-completion 2>/dev/null)
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _initns initns
`

func completion(c *cli.Context) error {
	if c.Args().First() != "bash" {
		return usageErr{"completion: say `initns completion bash` (then: source <(initns completion bash))"}
	}
	fmt.Fprint(c.App.Writer, bashCompletion)
	return nil
}
