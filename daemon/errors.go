package daemon

import "errors"

// State sentinels; handlers wrap them with the instance's name and what to do.
var (
	ErrRunning    = errors.New("is running")
	ErrNotRunning = errors.New("is not running")
	ErrBusy       = errors.New("is busy")
)
