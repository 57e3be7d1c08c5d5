// Package store owns the state root of initns: images/, rootfs/<name>/, the
// instances registry and the scratch folder; it turns images into root
// filesystems and root filesystems (or any directory) back into images.
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
//	default            the instance booted when the daemon is PID 1
//	rename             the journal of a rename under way (rename_linux.go)
//
// Images may also be OCI image layouts (a directory, or a tar of one) and
// docker save archives: their layers are applied in order, whiteouts
// included, by the same extractor (oci_linux.go).
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
// # Extraction
//
// Extraction is faithful to GNU tar --numeric-owner --xattrs
// --xattrs-include='*' --acls (SPEC §5) and never starts a subprocess (the
// daemon may be PID 1 and own wait4). Every path is resolved by openat2(2)
// beneath the new root with RESOLVE_NO_SYMLINKS, final components are
// handled with *at calls that do not follow symlinks, and metadata is set
// on descriptors or with AT_SYMLINK_NOFOLLOW. Decompression, tar parsing and
// the system calls that create files overlap: a few writer goroutines
// create files, symlinks and device nodes while the parser goes on.
//
// Where SPEC §5 leaves room, the package decides:
//
//   - An entry written through a symlink is refused, even one that would
//     resolve inside the root (GNU tar would follow a relative one): real
//     root filesystem images never need it and hostile ones do.
//   - A ".." component is refused rather than resolved; leading "/" and
//     "./" are dropped, so an absolute name lands inside the root.
//   - The "." entry's owner, mode, xattrs and times apply to the new root
//     itself, never to rootfs/ or anything above; without one the root is
//     0755 root:root.
//   - An image whose entries all lie in one top-level directory is unwrapped,
//     unless that directory is a standard top-level one (etc, usr, ...): an
//     image of etc/ alone is a partial root, not a wrapper.
//   - Duplicate entries: the later one wins (GNU tar), a directory merges
//     with a directory, and swapping a directory with anything else, or a
//     symlink with a directory, is refused as hostile.
//   - A hard link carrying data, to a directory, or to a name no earlier
//     entry created is refused; a hard link to a symlink links the symlink.
//   - ACLs use the binary system.posix_acl_* record when GNU tar stored it,
//     else the SCHILY.acl text; names in the text are looked up on the host,
//     as GNU tar does, and an unknown name is an error, not a dropped entry.
//   - Bounds (budget.go): PAX headers, long names and sparse maps are capped
//     at 1 MiB by archive/tar; names at 4095 bytes, components at 255,
//     nesting at 1024 levels; xattr values at 64 KiB; the apparent size of
//     all sparse files of an image at 8 GiB; layers at 128; the directory
//     metadata kept until the end at 64 MiB; the zstd window and the xz
//     dictionary at 128 MiB; file data buffered for the writers at 32 MiB.
//
// # Snapshots
//
// Seed and Commit write PAX archives that GNU tar restores with the same
// metadata: numeric owners, every mode bit, nanosecond mtimes, hard links,
// devices, FIFOs, xattrs, ACLs (both GNU tar records) and sparse files (GNU
// PAX sparse format 1.0). They stay on one file system (a mount point is
// archived empty, like tar --one-file-system), leave the state root out,
// skip sockets, and skip files removed while the tree is read.
package store
