// Package store owns the state root of initns: images/, rootfs/<name>/, the
// instances registry and the scratch folder; it turns images into root
// filesystems and root filesystems (or any directory) back into images.
//
// Layout under the root (SPEC §2):
//
//	images/            image files (.tar, .tar.gz, .tgz, .tar.zst, read by magic)
//	rootfs/<name>/     extracted root filesystems, mode 0700
//	instances          the registry: one instance name per line (the commit point)
//	instances.meta     per-instance metadata (image, created, size) as JSON
//	scratch/           work in progress, emptied by Open
//
// Every change is atomic: work happens in scratch/, is synced, and is then
// renamed or linked into place; the registry line is written last, so after a
// crash at any point Open finds each instance either fully present or absent.
//
// Extraction never starts a subprocess (the daemon may be PID 1 and own
// wait4), never follows a symlink it did not resolve inside the new root, and
// refuses hostile entries with an error wrapping ErrBadImage that names the
// entry.
package store
