package proto

// Verb is one command of the socket, as both sides know it: the daemon
// dispatches on it and checks its arity, the client builds its command
// line from it. A verb is written here once.
type Verb struct {
	Name     string
	Min, Max int    // how many positional arguments the daemon takes
	Args     string // the positional arguments, as usage shows them: "NAME IMAGE"
	Help     string // one line for `initns help` and `initns COMMAND --help`
	Flags    []Flag // the client's flags, beside the positional arguments
	// Complete names what each positional argument completes to in the
	// shell: "instance", "image", or "" for nothing.
	Complete []string
	// Progress marks long work: the client shows a progress bar on a
	// terminal, and takes --quiet to show none.
	Progress bool
	// Debug verbs are served only with --debug / initns.debug=1; help and
	// the client leave them out.
	Debug bool
	// Internal verbs are the client's steps of a command of its own (pull
	// hands its verified download to import, push reads an image with
	// export): they take a descriptor passed with the request, so the
	// compatibility mode's help leaves them out and the client builds no
	// command of them.
	Internal bool
}

// Usage is the verb's usage line, as the compatibility mode's help lists
// it and its usage errors say it: "new NAME IMAGE".
func (v Verb) Usage() string {
	if v.Args == "" {
		return v.Name
	}
	return v.Name + " " + v.Args
}

// Flag is a client flag of a verb. The flags that change what the daemon
// does travel as the Request field of the same name (kill, timeout,
// overlay); the others change how the client shows the result.
type Flag struct {
	Name     string
	Alias    string // a one-letter alias, or ""
	Duration bool   // takes a duration value; otherwise a boolean, unless Value is set
	Value    string // takes a string value, named so in help ("USER"); Repeat: may be given more than once
	Repeat   bool
	Help     string
}

var (
	flagJSON = Flag{Name: "json", Help: "machine-readable output"}
	// execFlags are exec's (the client reads them itself, before the
	// command); shell takes the first two.
	execFlags = []Flag{
		{Name: "tty", Alias: "t", Help: "give the command a terminal of its own even when stdin or stdout is not a terminal"},
		{Name: "no-tty", Alias: "T", Help: "never give the command a terminal: it gets your stdin, stdout and stderr"},
		{Name: "user", Alias: "u", Value: "USER", Help: "run as USER (a name or uid of the instance's /etc/passwd), with its groups"},
		{Name: "cwd", Alias: "w", Value: "DIR", Help: "change to DIR inside the instance (default: the user's home, else /)"},
		{Name: "env", Alias: "e", Value: "K=V", Repeat: true, Help: "set K=V in the command's environment (repeatable)"},
	}
	instance1 = []string{"instance"}
	flagCreds = Flag{Name: "creds", Value: "USER:PASSWORD", Help: "USER:PASSWORD for the registry (default: your docker config.json, as docker login writes it)"}
)

// Verbs is every verb of the socket, in the order help lists them.
var Verbs = []Verb{
	{Name: "new", Min: 2, Max: 2, Args: "NAME IMAGE", Progress: true, Complete: []string{"", "image"},
		Help:  "extract IMAGE into a new instance NAME (--overlay: over a shared unpacked image, in milliseconds)",
		Flags: []Flag{{Name: "overlay", Help: "an overlay instance: only its changes take disk space"}}},
	{Name: "rm", Min: 1, Max: 1, Args: "NAME", Complete: instance1,
		Help: "delete a stopped instance"},
	{Name: "run", Min: 1, Max: 1, Args: "NAME", Complete: instance1,
		Help:  "boot NAME (stopping the running one), or thaw it if frozen",
		Flags: []Flag{{Name: "strict", Help: "refuse to boot if its driver userspace does not match the loaded module (without: a warning)"}}},
	{Name: "switch", Min: 1, Max: 1, Args: "NAME", Complete: instance1,
		Help: "give the console to NAME (thawed if resident, booted if stopped); the instance in front is frozen and stays resident"},
	{Name: "stop", Min: 1, Max: 1, Args: "NAME", Complete: instance1,
		Help: "stop NAME: halt signal, wait, then kill",
		Flags: []Flag{
			{Name: "kill", Help: "kill at once"},
			{Name: "timeout", Duration: true, Help: "how long to wait for a graceful stop (default: the daemon's, 10s)"},
		}},
	{Name: "freeze", Min: 1, Max: 1, Args: "NAME", Complete: instance1,
		Help: "freeze the running instance NAME (run NAME thaws it)"},
	// The client writes `exec NAME -- CMD`: the "--" keeps the command's
	// own flags from being read as the client's.
	{Name: "exec", Min: 2, Max: 1 << 16, Args: "NAME CMD [ARGS...]", Complete: instance1,
		Help:  "run a command inside the running instance NAME, with a terminal of its own when yours is one; exits with its status",
		Flags: execFlags},
	{Name: "shell", Min: 1, Max: 2, Args: "NAME [USER]", Complete: instance1,
		Help:  "a login shell for USER (root) inside the running instance NAME: its shell and home from the instance's /etc/passwd",
		Flags: execFlags[:2]},
	{Name: "set", Min: 2, Max: 8, Args: "NAME KEY=VALUE...", Complete: instance1,
		Help: "change an instance's settings: init=KIND|auto (the init whose shutdown language stop speaks: systemd, sysvinit, openrc-init, runit, busybox), halt-signal=SIGNAL|auto (a signal that asks its init to power off, e.g. SIGUSR2 or SIGRTMIN+4), container=NAME|none|auto (what its init is told it runs in: by default an empty container=, the machine)"},
	{Name: "reset", Min: 1, Max: 1, Args: "NAME", Progress: true, Complete: instance1,
		Help: "throw away a stopped instance's changes: back to its image"},
	{Name: "clone", Min: 2, Max: 2, Args: "SRC DST", Progress: true, Complete: instance1,
		Help: "copy the stopped instance SRC into a new instance DST"},
	{Name: "rename", Min: 2, Max: 2, Args: "OLD NEW", Complete: instance1,
		Help: "rename a stopped instance"},
	{Name: "diff", Min: 1, Max: 1, Args: "NAME", Complete: instance1, Flags: []Flag{flagJSON},
		Help: "list what an instance changed against its image (A added, M modified, D deleted)"},
	// The client sends --fallback and --menu as fallback=NAME and
	// menu=SECONDS words after NAME, which the compatibility mode takes too.
	{Name: "default", Min: 0, Max: 3, Args: "[NAME] [fallback=NAME|none] [menu=SECONDS]", Complete: instance1,
		Help: "show, set (NAME) or clear (--clear) the instance booted when the daemon starts as PID 1, its fallback and the boot menu's countdown",
		Flags: []Flag{
			{Name: "clear", Help: "boot no instance at start"},
			{Name: "fallback", Value: "NAME", Help: "boot NAME when the default is marked failed (none: no fallback)"},
			{Name: "menu", Value: "SECONDS", Help: "show the boot menu at start, counting down SECONDS to the default (0: no menu)"},
		}},
	{Name: "history", Min: 0, Max: 1, Args: "[NAME]", Complete: instance1, Flags: []Flag{flagJSON},
		Help: "the boot history: each boot and end of each instance (or of NAME), how it ended and how long it ran"},
	{Name: "ls", Min: 0, Max: 1, Args: "[image|instance]", Flags: []Flag{flagJSON},
		Help: "list instances and images; `ls image` or `ls instance` for bare names"},
	{Name: "seed", Min: 2, Max: 2, Args: "DIR IMAGE", Progress: true,
		Help: "snapshot the directory tree DIR into a new image"},
	{Name: "commit", Min: 2, Max: 2, Args: "NAME IMAGE", Progress: true, Complete: instance1,
		Help: "snapshot instance NAME into a new image"},
	{Name: "remote", Min: 1, Max: 3, Args: "ls|add|rm [NAME] [URL]",
		Help: "the image servers (simplestreams) pull reaches as NAME:ALIAS: ls, add NAME URL, rm NAME"},
	{Name: "import", Min: 4, Max: 4, Args: "IMAGE SHA256 SOURCE DIGEST", Progress: true, Internal: true,
		Help: "publish the regular file passed with the request, whose SHA-256 is SHA256, as the new IMAGE pulled from SOURCE (DIGEST)"},
	{Name: "export", Min: 1, Max: 1, Args: "IMAGE", Internal: true,
		Help: "write IMAGE (a file) into the pipe passed with the request"},
	{Name: "reboot", Help: "stop the instance gracefully and reboot (or end the daemon when not PID 1)"},
	{Name: "poweroff", Help: "stop the instance gracefully and power off (or end the daemon when not PID 1)"},
	{Name: "help", Help: "list the commands"},
	{Name: "version", Help: "print the client's and the daemon's versions"},
	// debug-panic proves in tests that a panicking handler does not take
	// the daemon (PID 1) down.
	{Name: "debug-panic", Debug: true, Help: "panic in the handler"},
	// debug-stats lets the load tests count goroutines for leaks.
	{Name: "debug-stats", Debug: true, Help: "the daemon's goroutine count"},
	// debug-start lets the VM tests see the machine's start again (the
	// boot menu, fallback) without a reboot, which would lose the state
	// root of an initramfs.
	{Name: "debug-start", Debug: true, Help: "do again what the daemon does at machine start"},
}

// ClientVerbs are the client's own commands, which are no verb of the
// socket: they do their network I/O in the client and use the internal
// verbs (import, export).
var ClientVerbs = []Verb{
	{Name: "pull", Min: 1, Max: 2, Args: "SOURCE [IMAGE]", Progress: true,
		Help: "fetch an image into images/: REMOTE:ALIAS (images:debian/12), docker://REGISTRY/REPO:TAG or @sha256:..., or an http(s) URL with --sha256 or a SHA256SUMS beside it",
		Flags: []Flag{
			{Name: "sha256", Value: "HEX", Help: "the SHA-256 of an http(s) URL's file, in HEX"},
			flagCreds,
			{Name: "timeout", Duration: true, Help: "give up on a server that sends nothing for this long (0: 30s)"},
		}},
	{Name: "push", Min: 2, Max: 2, Args: "IMAGE REF", Progress: true, Complete: []string{"image"},
		Help: "publish IMAGE to an OCI registry as docker://REGISTRY/REPO:TAG", Flags: []Flag{flagCreds}},
}

// Lookup returns the verb called name, of the socket or the client's own.
func Lookup(name string) (Verb, bool) {
	for _, v := range append(Verbs[:len(Verbs):len(Verbs)], ClientVerbs...) {
		if v.Name == name {
			return v, true
		}
	}
	return Verb{}, false
}

// Version is the version of this build, set at link time
// (-X initns/proto.Version=...); client and daemon report the same one.
var Version = "dev"
