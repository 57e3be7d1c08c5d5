// Package store owns the state root of initns: images/, rootfs/<name>/, the
// instances registry, the overlays and the scratch folder, and what is done
// to instances there: new, rm, clone, rename, reset, diff, disk use, commit.
// How an image becomes a tree and a tree an image is package archive's: store
// hands it an open image and a directory in scratch/, or a tree and a file.
//
// Layout under the root (SPEC §2):
//
//	images/            image files (.tar, .tar.gz, .tgz, .tar.zst; any name is
//	                   read by its magic bytes: tar, gzip, zstd, xz)
//	rootfs/<name>/     extracted root filesystems, mode 0700
//	instances          the registry: one instance name per line (the commit point)
//	instances.meta     per-instance metadata (image, created, size) as JSON
//	scratch/           work in progress, emptied by Open
//	lower/<key>/       unpacked images shared, read-only, by the overlay
//	                   instances of each (lower_linux.go)
//	overlay/<name>/    an overlay instance's upper and work directories; its
//	                   merged view is mounted at rootfs/<name> (overlay_linux.go)
//	default            the boot settings: the instance booted when the daemon is
//	                   PID 1, its fallback, the boot menu's countdown
//	history            the boot history: one JSON event per line, bounded,
//	                   rewritten whole and renamed into place (history.go)
//	rename             the journal of a rename under way (rename_linux.go)
//
// Images may also be OCI image layouts (a directory, or a tar of one) and
// docker save archives, which package archive reads.
//
// # Atomicity and durability
//
// Work happens in scratch/ and is synced (one syncfs for a whole tree, one
// fsync for an image file), then renamed (a tree, without replacing
// anything) or linked (an image, which fails rather than overwrite) into
// place. For instances the registry line is written last (temporary file,
// fsync, rename, fsync of the directory), and the metadata file is kept a
// superset of the registry at every instant. After a crash at any point,
// Open finds each instance and image either complete or absent: it empties
// scratch/, removes a root filesystem without a registry line and drops a
// line without a root filesystem.
//
// # Extraction and snapshots
//
// Extraction (New, and the lower layers of NewOverlay) and snapshots (Seed,
// Commit) are package archive's, whose doc says what it guarantees and
// decides: faithful to GNU tar --numeric-owner --xattrs --acls, every path
// resolved beneath the new root, bounded memory. Store adds where the work
// happens and when it becomes visible (above), and leaves the state root
// itself out of a snapshot.
package store
