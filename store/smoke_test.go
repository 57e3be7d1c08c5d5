package store

import (
	"path/filepath"
	"testing"
)

func TestSmoke(t *testing.T) {
	d := t.TempDir()
	src := filepath.Join(d, "src")
	run(t, "sh", "-c", "mkdir -p "+src+"/a/b && echo hi > "+src+"/a/b/f && ln -s f "+src+"/a/b/l && ln "+src+"/a/b/f "+src+"/a/h && mkfifo "+src+"/p && mknod "+src+"/c c 1 3 && chown 12:34 "+src+"/a/b/f && chmod 4755 "+src+"/a/b/f && setcap cap_net_raw+ep "+src+"/a/b/f")
	img := filepath.Join(d, "x.tar.gz")
	gnuCreate(t, src, img)
	res := extractFile(t, img, filepath.Join(d, "out"))
	want, got := describe(t, src), describe(t, res.Root)
	if want != got {
		t.Fatalf("differ:\n%s", diffLines(want, got))
	}
	t.Log(got)
}
