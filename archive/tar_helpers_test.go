package archive

import "initns/internal/archivetest"

// The test archives of internal/archivetest, under this package's names.
type entry = archivetest.Entry

var (
	file      = archivetest.File
	dir       = archivetest.Dir
	symlink   = archivetest.Symlink
	hardlink  = archivetest.Hardlink
	makeTar   = archivetest.Tar
	rawHeader = archivetest.RawHeader
	gzipBytes = archivetest.Gzip
	zstdBytes = archivetest.Zstd

	xzOf           = archivetest.Xz
	xzBlockHeaders = archivetest.XzBlockHeaders
	setXzDict      = archivetest.SetXzDict
	dockerSaveOf   = archivetest.DockerSave
)
