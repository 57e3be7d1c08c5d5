// Package reaper owns wait4 for the whole process: waiting for children is
// a process-wide job, since wait4(-1) takes any child's status. Every child
// the process starts goes through Start or StartFunc, which hand its exit
// status to exactly one waiter; any other exit (an orphan re-parented to
// PID 1 or to a subreaper, or a process nobody asked about) is reaped and
// given to OnOrphan's function, so no zombie is ever left and no waiter's
// status is ever stolen.
//
// Nothing else in the process may call wait4, waitpid or waitid on a child
// it did not fork itself: os/exec's Wait would race the reaper for the
// status.
package reaper
