package gelftest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a test certificate authority with a server certificate for
// 127.0.0.1, ::1 and localhost and a client certificate, all written as PEM
// files to a t.TempDir().
type PKI struct {
	CAFile         string // CA certificate (PEM)
	ServerCertFile string
	ServerKeyFile  string
	ClientCertFile string
	ClientKeyFile  string

	CA         *x509.Certificate
	CAPool     *x509.CertPool // holds CA only
	ServerCert tls.Certificate
	ClientCert tls.Certificate

	caKey *ecdsa.PrivateKey // signs the variants (ExpiredServerTLS, ...)
}

// NewPKI generates a fresh CA (ECDSA P-256) and its server and client
// certificates, valid from an hour ago for a day. Every call makes an
// unrelated CA, so two PKIs give a "wrong CA" setup.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	p := &PKI{CAPool: x509.NewCertPool()}

	caKey := newKey(t)
	p.caKey = caKey
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "gelftest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("gelftest: create CA: %v", err)
	}
	if p.CA, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatalf("gelftest: parse CA: %v", err)
	}
	p.CAPool.AddCert(p.CA)
	p.CAFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)

	leaf := func(name string, usage x509.ExtKeyUsage, tmpl *x509.Certificate) (tls.Certificate, string, string) {
		key := newKey(t)
		tmpl.SerialNumber = serial(t)
		tmpl.NotBefore = now.Add(-time.Hour)
		tmpl.NotAfter = now.Add(24 * time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, caKey)
		if err != nil {
			t.Fatalf("gelftest: create %s certificate: %v", name, err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatalf("gelftest: marshal %s key: %v", name, err)
		}
		certFile := writePEM(t, dir, name+".pem", "CERTIFICATE", der)
		keyFile := writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", keyDER)
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatalf("gelftest: load %s key pair: %v", name, err)
		}
		return cert, certFile, keyFile
	}
	p.ServerCert, p.ServerCertFile, p.ServerKeyFile = leaf("server", x509.ExtKeyUsageServerAuth, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	})
	p.ClientCert, p.ClientCertFile, p.ClientKeyFile = leaf("client", x509.ExtKeyUsageClientAuth, &x509.Certificate{
		Subject: pkix.Name{CommonName: "audittail test client"},
	})
	return p
}

// ServerTLS returns a server configuration with the server certificate,
// TLS 1.2 or later, and client certificates checked against the CA as
// clientAuth says (tls.NoClientCert, tls.RequireAndVerifyClientCert, ...).
func (p *PKI) ServerTLS(clientAuth tls.ClientAuthType) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.ServerCert},
		ClientAuth:   clientAuth,
		ClientCAs:    p.CAPool,
	}
}

// ExpiredServerTLS returns a server configuration like
// ServerTLS(tls.NoClientCert) whose certificate is signed by p's CA and
// names 127.0.0.1, ::1 and localhost, but expired an hour ago (it was valid
// from 25 hours ago until an hour ago). A client that trusts p.CAPool fails
// verification with an x509.CertificateInvalidError whose Reason is
// x509.Expired. The certificate exists only in memory; every call makes a
// new one.
func (p *PKI) ExpiredServerTLS() *tls.Config {
	now := time.Now()
	return p.variantTLS(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:   now.Add(-25 * time.Hour),
		NotAfter:    now.Add(-time.Hour),
	})
}

// WrongHostServerTLS returns a server configuration like
// ServerTLS(tls.NoClientCert) whose certificate is signed by p's CA and
// valid now (from an hour ago for a day), but only for the DNS name
// "wrong.example" (no IP addresses, no other names). A client that trusts
// p.CAPool and dials 127.0.0.1 or localhost fails verification with an
// x509.HostnameError; one that sets ServerName "wrong.example" succeeds.
// The certificate exists only in memory; every call makes a new one.
func (p *PKI) WrongHostServerTLS() *tls.Config {
	now := time.Now()
	return p.variantTLS(&x509.Certificate{
		Subject:   pkix.Name{CommonName: "wrong.example"},
		DNSNames:  []string{"wrong.example"},
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.Add(24 * time.Hour),
	})
}

// variantTLS signs a server certificate from tmpl (names and dates set)
// with p's CA and returns a TLS 1.2+ server configuration without client
// authentication. Key generation and signing cannot fail in practice; if
// they do, it panics (it has no testing.TB).
func (p *PKI) variantTLS(tmpl *x509.Certificate) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("gelftest: generate key: " + err.Error())
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic("gelftest: serial number: " + err.Error())
	}
	tmpl.SerialNumber = sn
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, p.caKey)
	if err != nil {
		panic("gelftest: create certificate: " + err.Error())
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic("gelftest: parse certificate: " + err.Error())
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
		ClientAuth:   tls.NoClientCert,
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("gelftest: generate key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("gelftest: serial number: %v", err)
	}
	return n
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("gelftest: %v", err)
	}
	return path
}
