// Package proto is the client mode of the daemon's socket: the JSON-lines
// protocol the initns client speaks, beside the byte-for-byte compatibility
// mode. A request is one JSON object on one line; its first byte, '{', tells
// the modes apart (a compatibility request starts with a verb). The daemon
// answers with zero or more progress events and then one final result, each
// one JSON object on one line. Several requests may follow on a connection.
package proto

import (
	"encoding/json"
	"errors"
	"time"
)

// MaxLine bounds a request line in either mode.
const MaxLine = 4096

// MaxFDs is the most descriptors a request takes (exec: the caller's
// stdin, stdout and stderr). The daemon closes any more a client sends,
// and any a request does not take, as they arrive.
const MaxFDs = 3

// Request is one client-mode request.
type Request struct {
	Cmd     string        `json:"cmd"`               // the command: a verb of the compatibility mode (see help), e.g. new, run, stop, exec, ls
	Args    []string      `json:"args,omitempty"`    // its positional arguments
	Kill    bool          `json:"kill,omitempty"`    // stop: kill at once
	Timeout time.Duration `json:"timeout,omitempty"` // stop: graceful timeout (0: the daemon's default)
	Overlay bool          `json:"overlay,omitempty"` // new: an overlay instance over a shared unpacked image
	Env     []string      `json:"env,omitempty"`     // exec, shell: K=V words set over the command's default environment (the caller's TERM, --env)
	TTY     bool          `json:"tty,omitempty"`     // exec, shell: give the command a terminal of its own (see PTY)
	Rows    uint16        `json:"rows,omitempty"`    // exec, shell with TTY: the caller's window size, the terminal's first
	Cols    uint16        `json:"cols,omitempty"`
	User    string        `json:"user,omitempty"`   // exec: run as this user of the instance (name or uid); empty: root
	Cwd     string        `json:"cwd,omitempty"`    // exec: working directory inside the instance; empty: /
	Strict  bool          `json:"strict,omitempty"` // run: refuse to boot on a driver mismatch
	// import and export take one descriptor passed with the request: the
	// verified download, or the pipe to write the image into.
}

// Warnings is the result of a request that succeeded with warnings (run:
// the instance's driver userspace does not match the loaded module); the
// client prints each one.
type Warnings struct {
	Warnings []string `json:"warnings"`
}

// ExecResult is the result of exec: how the command ended, as a shell
// would report it (128+N for a signal).
type ExecResult struct {
	Status int `json:"status"`
}

// Reply is one line of the answer: either a progress event (Progress set)
// or the final result (Done set).
type Reply struct {
	Progress *Progress       `json:"progress,omitempty"`
	PTY      bool            `json:"pty,omitempty"` // exec with TTY: this line carries the terminal's master (see below)
	Done     bool            `json:"done,omitempty"`
	Error    string          `json:"error,omitempty"` // empty on success
	Code     Code            `json:"code,omitempty"`  // class of the error
	Result   json.RawMessage `json:"result,omitempty"`
}

// Progress is how far a long operation has come.
type Progress struct {
	Done  int64 `json:"done"`
	Total int64 `json:"total"` // -1 when unknown
}

// A client-mode exec (or shell) request carries the caller's stdin, stdout
// and stderr as SCM_RIGHTS on the same message as its request line; the
// final reply comes when the command ends. Exec is the last request of a
// connection: a client that goes away while the command runs makes the
// daemon kill it.
//
// With TTY set the request carries no descriptors. The daemon makes a
// pseudo-terminal from the instance's own devpts, makes its slave the
// command's controlling terminal in a new session, and sends the master
// back in one line {"pty":true} with the descriptor as SCM_RIGHTS on the
// same message; it keeps no copy. The client relays its terminal to the
// master itself, so when the client dies the master's last close hangs up
// the command's session (SIGHUP from the kernel). The final reply follows
// when the command ends.

// Code classifies an error so clients can choose an exit status.
type Code string

// Error classes.
const (
	CodeFailed Code = "failed" // the operation failed (exit 1)
	CodeUsage  Code = "usage"  // unknown command or wrong arguments (exit 2)
	// exec's command could not start, as a shell says it: not found (exit
	// 127), or found but not executable (exit 126).
	CodeNotFound      Code = "notfound"
	CodeNotExecutable Code = "notexec"
)

// Error is a failed request as the client sees it.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// ErrUsage marks a usage error on either side.
var ErrUsage = errors.New("usage")

// Instance is one row of `ls`.
type Instance struct {
	Name    string    `json:"name"`
	State   string    `json:"state"` // stopped, running, frozen
	Kind    string    `json:"kind"`  // plain or overlay
	Image   string    `json:"image"`
	Size    int64     `json:"size"` // bytes extracted from the image
	Disk    int64     `json:"disk"` // its own disk use (overlay: the upper layer); 0 until measured
	Created time.Time `json:"created"`
	Pid     int       `json:"pid,omitempty"`    // host pid of its init while running or frozen
	Ended   string    `json:"ended,omitempty"`  // how its last boot ended
	Init    string    `json:"init"`             // its init system: systemd, sysvinit, ... or unknown; "(set)" when the user chose it
	Halt    string    `json:"halt"`             // how stop asks that init to power off
	Modules string    `json:"modules"`          // its modules of the running kernel: own, host (lent at boot) or none
	Failed  string    `json:"failed,omitempty"` // why it is marked failed (ended too soon too many times in a row), or ""
}

// Event is one entry of the boot history (`history`).
type Event struct {
	Time     time.Time     `json:"time"`
	Instance string        `json:"instance"`
	Kind     string        `json:"kind"`            // boot, end, good, failed, removed
	Why      string        `json:"why,omitempty"`   // boot: who asked (run, default, menu, fallback, reboot, retry); failed: the reason
	How      string        `json:"how,omitempty"`   // end: how it ended
	Ran      time.Duration `json:"ran,omitempty"`   // end: how long the init ran, in nanoseconds
	Quick    bool          `json:"quick,omitempty"` // end: too soon after the boot, a failed try
}

// Image is one image of `ls`.
type Image struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	Source   string    `json:"source,omitempty"` // where it was pulled from, if it was
	Digest   string    `json:"digest,omitempty"` // sha256:HEX it was verified against (an OCI image: its manifest's)
}

// Remote is a named image server (simplestreams) of `remote ls`.
type Remote struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// ImportResult is the result of import: Unchanged when the image was
// already there from the same digest, and nothing was done.
type ImportResult struct {
	Unchanged bool `json:"unchanged"`
}

// ExportResult is the result of export: what was written into the pipe.
type ExportResult struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Change is one path an instance changed against its image (diff).
type Change struct {
	Path string `json:"path"`
	Kind string `json:"kind"` // added, modified, deleted
}

// List is the result of `ls`.
type List struct {
	Instances []Instance `json:"instances"`
	Images    []Image    `json:"images"`
}
