package roots

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// Install's decision is once per process and changes crypto/x509's global
// state, so each case runs the test binary again with its own environment.
const childEnv = "AUDITTAIL_ROOTS_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child installs the roots, then verifies one of the embedded roots
// against the pool crypto/x509 now trusts by default (VerifyOptions.Roots
// nil), and prints what it found.
func child() int {
	s := Install()
	var first *x509.Certificate
	for c := range bundle.Roots() {
		if c.Constraint == nil {
			first, _ = x509.ParseCertificate(c.Certificate)
			break
		}
	}
	_, err := first.Verify(x509.VerifyOptions{})
	os.Stdout.WriteString(s.String())
	if err == nil {
		os.Stdout.WriteString(" verified")
	}
	if s.Embedded && s.Count < 100 {
		os.Stdout.WriteString(" too-few")
	}
	return 0
}

func run(t *testing.T, env ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, childEnv+"=1")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestNoSystemRoots: with no CA bundle anywhere (as in the agent's
// container image), the embedded roots are trusted.
func TestNoSystemRoots(t *testing.T) {
	empty := t.TempDir()
	got := run(t, "SSL_CERT_FILE="+filepath.Join(empty, "none.pem"), "SSL_CERT_DIR="+empty)
	if got != "embedded verified" {
		t.Errorf("no system roots: child says %q, want \"embedded verified\"", got)
	}
}

// TestSystemRootsWin: with a system bundle, it is used alone. The bundle
// here holds one certificate of the test's own, so an embedded root does
// not verify.
func TestSystemRootsWin(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "roots test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	file := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(file, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := run(t, "SSL_CERT_FILE="+file, "SSL_CERT_DIR="+dir); got != "system" {
		t.Errorf("with a system bundle: child says %q, want \"system\" (and no embedded root trusted)", got)
	}
}
