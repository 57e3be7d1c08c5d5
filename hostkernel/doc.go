// Package hostkernel owns what an instance sees of the kernel it shares
// with the host: which of the running kernel's directories of initns's own
// root (its modules, its firmware) are mounted read-only into an instance
// that has none of its own, and the checks, before a boot, of an
// instance's kernel-bound driver userspace against the drivers loaded
// (the NVIDIA case: libnvidia-*.so.VERSION against
// /sys/module/nvidia/version).
//
// The decisions are pure functions over what was found (Decide,
// Mismatches); the file system is read and mount points are made at the
// edge (Inspect, Prepare, Loaded), always inside the instance's root with
// every symlink resolved there, never on the host.
package hostkernel
