// Package roots makes the agent able to verify a TLS server's certificate
// on a system that has no CA bundle, such as a container image holding only
// the agent's binary.
//
// Go reads the system's roots from the usual files and directories
// (/etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt,
// ..., or SSL_CERT_FILE and SSL_CERT_DIR; crypto/x509's root_linux.go).
// When it finds none, Install makes crypto/x509 use Mozilla's root
// certificates embedded in the binary by golang.org/x/crypto/x509roots/fallback
// (its bundle package; the module's version is the bundle's date). When the
// system has roots, they are used and the embedded ones are not even
// parsed: a node's own trust store, with its additions and removals, wins.
// A ca_cert of the configuration is added to whichever of the two is used.
package roots

import (
	"crypto/x509"
	"sync"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// Source says where the trusted roots come from.
type Source struct {
	// Embedded is true when the system has no roots and the embedded
	// Mozilla roots are used.
	Embedded bool
	// Count is the number of embedded roots when Embedded.
	Count int
	// Err is why the system's roots could not be read, if that is why the
	// embedded ones are used (a bundle file that exists but cannot be
	// read).
	Err error
}

// String describes the source for logs and audittail check.
func (s Source) String() string {
	if !s.Embedded {
		return "system"
	}
	return "embedded"
}

var (
	once   sync.Once
	source Source
)

// Install decides, once per process, which roots crypto/x509 trusts (see
// the package documentation) and returns the decision. Call it before the
// first TLS connection; later calls return the first decision.
func Install() Source {
	once.Do(func() {
		sys, err := x509.SystemCertPool()
		if err == nil && !sys.Equal(x509.NewCertPool()) {
			return // the system's roots
		}
		pool, n := embedded()
		x509.SetFallbackRoots(pool)
		source = Source{Embedded: true, Count: n, Err: err}
	})
	return source
}

// embedded parses the embedded roots, with the constraints the bundle
// gives for some of them (as the fallback package itself does).
func embedded() (*x509.CertPool, int) {
	p := x509.NewCertPool()
	n := 0
	for c := range bundle.Roots() {
		cert, err := x509.ParseCertificate(c.Certificate)
		if err != nil {
			continue // cannot happen with the published bundle; skip rather than stop the agent
		}
		if c.Constraint == nil {
			p.AddCert(cert)
		} else {
			p.AddCertWithConstraint(cert, c.Constraint)
		}
		n++
	}
	return p, n
}
