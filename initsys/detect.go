package initsys

import (
	"bytes"
	"path"
)

// maxInitRead bounds how much of an instance's init is read to classify
// it: busybox-static, the largest init here, is about 2 MiB. A hostile
// root may hold a huge /sbin/init; the daemon reads no more than this.
const maxInitRead = 8 << 20

// byName maps the file name /sbin/init resolves to (after every symlink,
// inside the instance's root) to its init.
var byName = map[string]Kind{
	"systemd":     Systemd,
	"runit-init":  Runit,
	"runit":       Runit,
	"openrc-init": OpenRCInit,
	"busybox":     Busybox,
}

// markers tell an init by its contents when /sbin/init is the program
// itself under another name (a copy, a hard link): strings each program
// prints or opens, checked in order, most specific first.
var markers = []struct {
	kind Kind
	text string
}{
	{Busybox, "BusyBox v"},
	{Runit, "/etc/runit/stopit"},
	{Runit, "/run/runit.stopit"},
	{OpenRCInit, "OpenRC init version"},
	{Systemd, "systemd.show_status"},
	{SysVinit, "INIT_VERSION=sysvinit"},
}

// Classify names the init whose /sbin/init resolves to the file target
// (its path inside the instance) with the given leading contents.
func Classify(target string, contents []byte) Kind {
	if k, ok := byName[path.Base(target)]; ok {
		return k
	}
	for _, m := range markers {
		if bytes.Contains(contents, []byte(m.text)) {
			return m.kind
		}
	}
	return Unknown
}

// RunitPaths returns the stopit and reboot files a runit (or runit-init)
// program with these contents uses: Debian's build moved them into /run,
// upstream's are in /etc/runit.
func RunitPaths(contents []byte) (stopit, reboot string) {
	if bytes.Contains(contents, []byte("/run/runit.stopit")) {
		return "/run/runit.stopit", "/run/runit.reboot"
	}
	return "/etc/runit/stopit", "/etc/runit/reboot"
}
