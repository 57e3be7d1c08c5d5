// Package daemon is the init daemon: it decides. It serves the socket (the
// compatibility mode byte for byte, and the client mode of package proto),
// owns the instance state machine (stopped, running, frozen, resident: one
// instance has the console, running or frozen, and others may be resident,
// frozen in the background by `switch`), boots instances through nsexec
// into cgroups of cgroupfs, stops, freezes and thaws them, moves the
// console between them, stops the least recently used resident one when
// memory is short, restarts one that rebooted itself, and logs every
// request and state change. It keeps the boot history, counts the boots
// that end too soon and marks an instance that keeps failing, then boots
// its fallback (boots.go, boots_linux.go). Run as PID 1 (or with --boot) it
// shows the boot menu of package menu at start and boots the default
// instance; as PID 1 it also does the duties of package pid1 and never
// exits. Whatever a client sends, it stays within the resource budget of
// RELIABILITY.md, and gives the kernel back at once the memory a large
// request freed (heap.go).
package daemon
