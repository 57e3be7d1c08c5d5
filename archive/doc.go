// Package archive is the archive engine of initns: how an image becomes a
// directory tree and a directory tree becomes an image. It knows nothing of
// the state root (package store owns images/, rootfs/, the registry and
// overlays); it is handed an open image and a new directory, or a directory
// and a writer.
//
// It owns:
//
//   - reading images: the compression (gzip, zstd, xz, recognised by magic
//     bytes; format.go) and the tar stream (extract_linux.go), and OCI image
//     layouts and docker save archives, whose layers are applied in order,
//     whiteouts included, by the same extractor (oci.go, oci_linux.go,
//     oci_layer_linux.go);
//   - writing trees: path resolution beneath the new root
//     (resolve_linux.go), the writer goroutines and their buffer arena
//     (writers_linux.go, arena_linux.go), directories, links and device
//     nodes (nodes_linux.go), metadata: owners, modes, times, xattrs and
//     ACLs (attrs.go, apply_linux.go, acl.go), sparse files;
//   - the bounds on what an image may make the daemon hold (budget.go);
//   - writing images: the PAX archive of a tree, sparse members by hand
//     (write_linux.go, tarraw.go), compressed by an image name's suffix;
//   - the decoders beneath: archive/internal/gz (gzip, about 1.7x as fast
//     as klauspost/compress's; INITNS_GZIP=klauspost switches to that one),
//     archive/internal/xz (the xz container, its dictionary checked before
//     allocation) and archive/internal/ahead (decompression in its own
//     goroutine, ahead of the tar parser).
//
// Every error about the image itself wraps ErrBadImage together with its
// cause (%w both), so errors.Is finds the sentinel and errors.As the
// decoder's error (CorruptError). An error of the disk (EIO, ENOSPC,
// EDQUOT), whether reading the image or writing the tree, does not wrap
// ErrBadImage: the image may be fine.
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
//     itself, never to its parent or anything above; without one the root
//     is 0755 root:root.
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
// WriteImage and WriteTar write PAX archives that GNU tar restores with the
// same metadata: numeric owners, every mode bit, nanosecond mtimes, hard
// links, devices, FIFOs, xattrs, ACLs (both GNU tar records) and sparse
// files (GNU PAX sparse format 1.0). They stay on one file system (a mount
// point is archived empty, like tar --one-file-system), leave out the
// directory they are told to skip (the state root), skip sockets, and skip
// files removed while the tree is read.
package archive
