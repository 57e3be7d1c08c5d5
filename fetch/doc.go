// Package fetch is the network side of pull and push, run by the client,
// never by the daemon: it resolves what the user names (a simplestreams
// image server's alias, an OCI reference, an http(s) URL with a checksum)
// to a Plan whose digest is known before the image is downloaded,
// downloads into the user's cache with resumable HTTP Range requests and
// verifies every byte by SHA-256, and publishes images to OCI registries
// (go-containerregistry, with the user's docker config.json).
//
// What a server sends is bounded: indexes and checksum files by size, a
// download by the size its index announces and by its digest, a server
// that stalls by a timeout, redirects by Go's ten, an image by its layer
// count (MaxLayers), and an index's paths by the server's own tree. The
// cache keeps an unfinished download a week for a resume.
package fetch
