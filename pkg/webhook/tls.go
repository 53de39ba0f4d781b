package webhook

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// MinTokenLen is the shortest bearer token accepted in token_file.
const MinTokenLen = 16

// material is what the receiver loads from its files. Reload replaces it
// whole, so a request sees one consistent set.
type material struct {
	cert      *tls.Certificate
	notAfter  time.Time      // of the receiver's certificate
	clientCAs *x509.CertPool // nil: no client certificate required
	tokenSum  *[32]byte      // SHA-256 of the token; nil: no token required
}

// loadMaterial loads every file of cfg that is set, checking the
// certificate against now.
func loadMaterial(cfg Config, now time.Time) (*material, error) {
	cert, err := loadKeyPair(cfg.CertFile, cfg.KeyFile, now)
	if err != nil {
		return nil, err
	}
	m := &material{cert: cert, notAfter: cert.Leaf.NotAfter}
	if cfg.ClientCAFile != "" {
		if m.clientCAs, err = loadClientCAs(cfg.ClientCAFile, now); err != nil {
			return nil, err
		}
	}
	if cfg.TokenFile != "" {
		sum, err := loadToken(cfg.TokenFile)
		if err != nil {
			return nil, err
		}
		m.tokenSum = &sum
	}
	return m, nil
}

// LoadTLS loads the receiver's certificate and key and its client CA
// bundle, and returns the server TLS configuration [New] serves with: TLS
// 1.2 or later, HTTP/2 and HTTP/1.1, and the client certificate asked for
// (tls.RequestClientCert, verified by the receiver, not by the handshake)
// when client_ca_file is set. Errors name the file and the reason: missing,
// no PEM block (an empty file), a key that does not match the certificate,
// a certificate expired or not yet valid, or not for server authentication.
func LoadTLS(cfg Config) (*tls.Config, error) {
	now := time.Now()
	cert, err := loadKeyPair(cfg.CertFile, cfg.KeyFile, now)
	if err != nil {
		return nil, err
	}
	if cfg.ClientCAFile != "" {
		if _, err := loadClientCAs(cfg.ClientCAFile, now); err != nil {
			return nil, err
		}
	}
	c := serverTLS(cfg)
	c.Certificates = []tls.Certificate{*cert}
	return c, nil
}

// serverTLS is the TLS configuration without its certificate. The client
// certificate is only requested: a handshake with a wrong one then still
// succeeds, and the handler answers 403 and counts it instead of the
// handshake failing without an answer. ClientCAs is left empty on purpose:
// a Go client (client-go) leaves out a certificate whose issuer is not in
// the server's list of acceptable CAs, and would then be told "no client
// certificate" instead of what is wrong with the one it has.
func serverTLS(cfg Config) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		ClientAuth: tls.NoClientCert,
	}
	if cfg.ClientCAFile != "" {
		c.ClientAuth = tls.RequestClientCert
	}
	return c
}

// CheckCert loads every file the receiver needs, as [New] does (the
// certificate and key, the client CA bundle, the token), checks the
// certificate against now, and returns when it expires. It is for
// `audittail check`; errors are those of [LoadTLS] and [New].
func CheckCert(cfg Config, now time.Time) (notAfter time.Time, err error) {
	m, err := loadMaterial(cfg, now)
	if err != nil {
		return time.Time{}, err
	}
	return m.notAfter, nil
}

// loadKeyPair loads and checks the receiver's certificate and key.
func loadKeyPair(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("webhook.cert_file and webhook.key_file: both are required")
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("webhook.cert_file: %w", err)
	}
	if _, err := parseCerts(certPEM); err != nil {
		return nil, fmt.Errorf("webhook.cert_file %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("webhook.key_file: %w", err)
	}
	if err := hasKeyBlock(keyPEM); err != nil {
		return nil, fmt.Errorf("webhook.key_file %s: %w", keyFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, fmt.Errorf("webhook.key_file %s does not match the certificate in webhook.cert_file %s: "+
				"the private key is not the certificate's (a key from another certificate?)", keyFile, certFile)
		}
		return nil, fmt.Errorf("webhook.cert_file %s and webhook.key_file %s: %w", certFile, keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("webhook.cert_file %s: %w", certFile, err)
		}
		cert.Leaf = leaf
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("webhook.cert_file %s: the certificate expired on %s", certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("webhook.cert_file %s: the certificate is not valid before %s (is the clock right?)", certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	case len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny):
		return nil, fmt.Errorf("webhook.cert_file %s: the certificate is not for server authentication (its extended key usage lacks serverAuth): kube-apiserver would refuse it", certFile)
	}
	return &cert, nil
}

// parseCerts parses every CERTIFICATE block of pemBytes. It fails when
// there is none, naming what it found instead.
func parseCerts(pemBytes []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	other := ""
	for n := 1; ; n++ {
		var b *pem.Block
		b, pemBytes = pem.Decode(pemBytes)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			other = b.Type
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	switch {
	case len(certs) > 0:
		return certs, nil
	case strings.HasSuffix(other, "PRIVATE KEY"):
		return nil, errors.New("holds a private key, not a certificate (cert_file and key_file swapped?)")
	case other != "":
		return nil, fmt.Errorf("no PEM CERTIFICATE block (found %s)", other)
	case len(bytes.TrimSpace(pemBytes)) == 0:
		return nil, errors.New("no PEM CERTIFICATE block (the file is empty)")
	}
	return nil, errors.New("no PEM CERTIFICATE block (not a PEM file?)")
}

// hasKeyBlock reports whether keyPEM holds a PEM private key block.
func hasKeyBlock(keyPEM []byte) error {
	empty := len(bytes.TrimSpace(keyPEM)) == 0
	for {
		var b *pem.Block
		b, keyPEM = pem.Decode(keyPEM)
		switch {
		case b == nil && empty:
			return errors.New("no PEM private key block (the file is empty)")
		case b == nil:
			return errors.New("no PEM private key block (not a PEM file?)")
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			return nil
		case b.Type == "CERTIFICATE":
			return errors.New("holds a certificate, not a private key (cert_file and key_file swapped?)")
		}
	}
}

// loadClientCAs loads the client CA bundle. It fails when the file holds
// no certificate, or only expired ones (no client could then verify).
func loadClientCAs(path string, now time.Time) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("webhook.client_ca_file: %w", err)
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("webhook.client_ca_file %s: %w", path, err)
	}
	pool := x509.NewCertPool()
	valid := 0
	var lastExpiry time.Time
	for _, c := range certs {
		pool.AddCert(c)
		if now.Before(c.NotAfter) {
			valid++
		} else if c.NotAfter.After(lastExpiry) {
			lastExpiry = c.NotAfter
		}
	}
	if valid == 0 {
		return nil, fmt.Errorf("webhook.client_ca_file %s: every certificate in it has expired (the last on %s): no client certificate could verify",
			path, lastExpiry.UTC().Format(time.RFC3339))
	}
	return pool, nil
}

// loadToken reads the bearer token and returns its SHA-256. White space
// around it is ignored. Errors never include the token.
func loadToken(path string) ([32]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}, fmt.Errorf("webhook.token_file: %w", err)
	}
	tok := bytes.TrimSpace(data)
	defer clear(data)
	if len(tok) == 0 {
		return [32]byte{}, fmt.Errorf("webhook.token_file %s: the file is empty", path)
	}
	for _, c := range tok {
		if c <= ' ' || c == 0x7f {
			return [32]byte{}, fmt.Errorf("webhook.token_file %s: the token contains white space or a control character (a bearer token is one word)", path)
		}
	}
	if len(tok) < MinTokenLen {
		return [32]byte{}, fmt.Errorf("webhook.token_file %s: the token has %d characters, fewer than %d: use a long random one (for example: head -c 32 /dev/urandom | base64)",
			path, len(tok), MinTokenLen)
	}
	return sha256.Sum256(tok), nil
}
