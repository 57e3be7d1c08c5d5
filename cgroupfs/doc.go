// Package cgroupfs owns initns's part of the cgroup v2 tree: it finds (or, at
// boot, mounts) the cgroup2 hierarchy, prepares the parent cgroup under which
// every instance lives, and creates, freezes, thaws, kills, waits for and
// removes an instance's cgroup. Every state change is confirmed by the kernel
// through cgroup.events rather than assumed.
package cgroupfs
