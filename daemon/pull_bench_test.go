package daemon_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"initns/vmtest"
)

// pullRounds is how many times each side pulls; the median is compared.
const pullRounds = 5

// BenchmarkPull measures `initns pull` of the Debian minbase image (the
// systemd tree of the distro VM tests, gzipped) from a local registry
// (docker-registry, TLS, basic auth) into a fresh state root and cache,
// beside `skopeo copy` of the same image to a local OCI layout: what a
// user would otherwise run. Both verify every blob; initns also publishes
// the image into images/ (synced).
func BenchmarkPull(b *testing.B) {
	tree, err := vmtest.DistroTar("systemd")
	if err != nil {
		b.Fatalf("the Debian tree: %v", err)
	}
	reg := startRegistry(b)
	e := startDaemon(b)
	e.clientEnv = reg.clientEnv(b, false)
	os.MkdirAll(filepath.Join(e.root, "images"), 0o755)
	img := filepath.Join(e.root, "images", "minbase.tar.gz")
	if out, err := exec.Command("sh", "-c", "pigz -c < "+tree+" > "+img).CombinedOutput(); err != nil {
		b.Fatalf("pigz: %v %s", err, out)
	}
	ref := reg.addr + "/bench/minbase:1"
	e.ok("push", "minbase.tar.gz", "docker://"+ref)
	fi, _ := os.Stat(img)

	certs := b.TempDir()
	ca, _ := os.ReadFile(reg.ca)
	os.WriteFile(filepath.Join(certs, "ca.crt"), ca, 0o644)
	var initns, skopeo []time.Duration
	for i := 0; i < pullRounds; i++ {
		pull := func() {
			p := startDaemon(b)
			p.clientEnv = reg.clientEnv(b, false)
			initns = append(initns, timed(func() { p.ok("pull", "--quiet", "docker://"+ref, "minbase.oci.tar") }))
			p.cleanup()
		}
		// Turn about, so that neither side always finds the other's
		// writes still being flushed.
		if i%2 == 0 {
			pull()
		}
		dst := filepath.Join(b.TempDir(), "oci")
		skopeo = append(skopeo, timed(func() {
			cmd := exec.Command("skopeo", "copy", "--quiet", "--src-cert-dir", certs, "--src-creds", reg.user+":"+reg.pass,
				"docker://"+ref, "oci:"+dst+":1")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("skopeo: %v\n%s", err, out)
			}
			// As initns does before answering: the layout is on disk.
			exec.Command("sync", "-f", dst).Run()
		}))
		if i%2 == 1 {
			pull()
		}
	}
	ip, _ := percentiles(initns)
	sp, _ := percentiles(skopeo)
	fmt.Printf("\npull of the Debian minbase image (%.1f MiB gzipped) from a local registry, median of %d\n", float64(fi.Size())/(1<<20), pullRounds)
	fmt.Printf("%-44s %9s\n%-44s %9s  %.2fx\n", "skopeo copy docker:// oci: (then sync -f)", sp.Round(time.Millisecond),
		"initns pull docker:// (published in images/)", ip.Round(time.Millisecond), float64(ip)/float64(sp))
	fmt.Printf("rounds: initns %s; skopeo %s\n", roundList(initns), roundList(skopeo))
	b.ReportMetric(float64(ip)/float64(sp), "pull/skopeo")
}

func roundList(d []time.Duration) string {
	var s []string
	for _, x := range d {
		s = append(s, x.Round(time.Millisecond).String())
	}
	return strings.Join(s, " ")
}
