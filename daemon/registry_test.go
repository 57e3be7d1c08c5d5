package daemon_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// registry is Debian's docker-registry (the CNCF distribution registry)
// on 127.0.0.1, serving TLS from a CA of the test's own and asking for
// basic auth (htpasswd, bcrypt).
type registry struct {
	addr       string // 127.0.0.1:PORT
	ca         string // the CA's certificate (PEM), for SSL_CERT_FILE
	user, pass string
}

// startRegistry starts a registry of the test's own, stopped at cleanup.
func startRegistry(t testing.TB) *registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatal("docker-registry is not installed (make deps installs it): ", err)
	}
	dir := t.TempDir()
	r := &registry{addr: freeAddr(t), ca: filepath.Join(dir, "ca.pem"), user: "tester", pass: "s3cret-pass"}
	writeTestCA(t, dir)
	out, err := exec.Command("htpasswd", "-Bbn", r.user, r.pass).Output()
	if err != nil {
		t.Fatalf("htpasswd (apache2-utils): %v", err)
	}
	os.WriteFile(filepath.Join(dir, "htpasswd"), out, 0o600)
	config := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %[1]s/data
  delete:
    enabled: true
http:
  addr: %[2]s
  tls:
    certificate: %[1]s/cert.pem
    key: %[1]s/key.pem
auth:
  htpasswd:
    realm: initns-test
    path: %[1]s/htpasswd
`, dir, r.addr)
	os.WriteFile(filepath.Join(dir, "config.yml"), []byte(config), 0o600)
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	cmd.Stderr = &testWriter{t: t, prefix: "registry: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(r.ca)
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get("https://" + r.addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry did not answer on %s: %v", r.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clientEnv is the client's environment to reach r: the CA trusted, a
// cache of its own, and the credentials in a docker config.json unless
// anonymous.
func (r *registry) clientEnv(t testing.TB, anonymous bool) []string {
	dir := t.TempDir()
	cfg := `{"auths":{}}`
	if !anonymous {
		auth := base64.StdEncoding.EncodeToString([]byte(r.user + ":" + r.pass))
		cfg = fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, r.addr, auth)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600)
	return []string{"SSL_CERT_FILE=" + r.ca, "DOCKER_CONFIG=" + dir, "XDG_CACHE_HOME=" + filepath.Join(dir, "cache")}
}

// freeAddr is a free port on 127.0.0.1.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeTestCA writes ca.pem, and cert.pem and key.pem for 127.0.0.1
// signed by it, into dir.
func writeTestCA(t testing.TB, dir string) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "initns test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for name, b := range map[string]*pem.Block{
		"ca.pem":   {Type: "CERTIFICATE", Bytes: caDER},
		"cert.pem": {Type: "CERTIFICATE", Bytes: leafDER},
		"key.pem":  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
