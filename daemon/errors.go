package daemon

import "errors"

// State sentinels; handlers wrap them with the instance's name and what to
// do. An instance busy with a long operation is store.ErrBusy, whichever
// side finds it busy.
var (
	ErrRunning    = errors.New("is running")
	ErrNotRunning = errors.New("is not running")
)
