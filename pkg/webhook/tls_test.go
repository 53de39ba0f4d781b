package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckCert: the files load, and the error of each bad one names the
// file and says what is wrong with it.
func TestCheckCert(t *testing.T) {
	p := newTestPKI(t, "check")
	good := p.issue(t, "server", x509.ExtKeyUsageServerAuth, time.Time{}, time.Time{})
	expired := p.issue(t, "expired", x509.ExtKeyUsageServerAuth, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	future := p.issue(t, "future", x509.ExtKeyUsageServerAuth, time.Now().Add(24*time.Hour), time.Now().Add(48*time.Hour))
	clientOnly := p.issue(t, "client-only", x509.ExtKeyUsageClientAuth, time.Time{}, time.Time{})
	other := p.issue(t, "other", x509.ExtKeyUsageServerAuth, time.Time{}, time.Time{})
	empty := writeFile(t, p.dir, "empty.pem", "")
	notPEM := writeFile(t, p.dir, "not.pem", "hello\n")
	token := writeFile(t, p.dir, "token", "  "+testToken+"\n")
	shortToken := writeFile(t, p.dir, "short-token", "abc\n")
	spaceToken := writeFile(t, p.dir, "space-token", "abcdefgh ijklmnopqrst\n")
	missing := filepath.Join(p.dir, "missing.pem")

	base := Config{Listen: "127.0.0.1:0", CertFile: good.CertFile, KeyFile: good.KeyFile, ClientCAFile: p.CAFile, TokenFile: token}
	notAfter, err := CheckCert(base, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !notAfter.Equal(good.Cert.Leaf.NotAfter) {
		t.Errorf("notAfter %s, want %s", notAfter, good.Cert.Leaf.NotAfter)
	}
	if _, err := LoadTLS(base); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		edit func(*Config)
		file string   // the error names it
		says []string // and says these
	}{
		{"expired certificate", func(c *Config) { c.CertFile, c.KeyFile = expired.CertFile, expired.KeyFile }, expired.CertFile, []string{"expired on"}},
		{"not yet valid", func(c *Config) { c.CertFile, c.KeyFile = future.CertFile, future.KeyFile }, future.CertFile, []string{"not valid before"}},
		{"client-only certificate", func(c *Config) { c.CertFile, c.KeyFile = clientOnly.CertFile, clientOnly.KeyFile }, clientOnly.CertFile, []string{"not for server authentication"}},
		{"key of another certificate", func(c *Config) { c.KeyFile = other.KeyFile }, other.KeyFile, []string{"does not match", good.CertFile}},
		{"empty certificate file", func(c *Config) { c.CertFile = empty }, empty, []string{"no PEM CERTIFICATE block", "empty"}},
		{"certificate file not PEM", func(c *Config) { c.CertFile = notPEM }, notPEM, []string{"not a PEM file"}},
		{"empty key file", func(c *Config) { c.KeyFile = empty }, empty, []string{"no PEM private key", "empty"}},
		{"files swapped", func(c *Config) { c.CertFile, c.KeyFile = good.KeyFile, good.CertFile }, good.KeyFile, []string{"swapped"}},
		{"key file holds a certificate", func(c *Config) { c.KeyFile = good.CertFile }, good.CertFile, []string{"holds a certificate"}},
		{"missing certificate", func(c *Config) { c.CertFile = missing }, missing, []string{"no such file"}},
		{"missing key", func(c *Config) { c.KeyFile = missing }, missing, []string{"no such file"}},
		{"empty CA file", func(c *Config) { c.ClientCAFile = empty }, empty, []string{"client_ca_file", "empty"}},
		{"CA file holds a key", func(c *Config) { c.ClientCAFile = good.KeyFile }, good.KeyFile, []string{"client_ca_file", "private key"}},
		{"empty token", func(c *Config) { c.TokenFile = empty }, empty, []string{"token_file", "empty"}},
		{"short token", func(c *Config) { c.TokenFile = shortToken }, shortToken, []string{"fewer than 16"}},
		{"token with a space", func(c *Config) { c.TokenFile = spaceToken }, spaceToken, []string{"white space"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			c.edit(&cfg)
			_, err := CheckCert(cfg, time.Now())
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range append([]string{c.file}, c.says...) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), "abcdefgh") {
				t.Errorf("error quotes the token: %v", err)
			}
			if cfg.TokenFile == base.TokenFile {
				if _, lerr := LoadTLS(cfg); lerr == nil || lerr.Error() != err.Error() {
					t.Errorf("LoadTLS: %v, want %v", lerr, err)
				}
			}
		})
	}

	t.Run("expired CA bundle", func(t *testing.T) {
		// The test CA is valid for a day: two days on, no client could verify.
		_, err := loadClientCAs(p.CAFile, time.Now().Add(48*time.Hour))
		if err == nil || !strings.Contains(err.Error(), p.CAFile) || !strings.Contains(err.Error(), "every certificate in it has expired") {
			t.Errorf("expired CA: %v", err)
		}
	})
}

// TestLoadTLS: the served configuration is TLS 1.2+, offers HTTP/2, and
// only requests a client certificate (verified by the receiver).
func TestLoadTLS(t *testing.T) {
	p := newTestPKI(t, "load")
	s := p.issue(t, "server", x509.ExtKeyUsageServerAuth, time.Time{}, time.Time{})
	cfg := Config{Listen: ":0", CertFile: s.CertFile, KeyFile: s.KeyFile, ClientCAFile: p.CAFile}
	c, err := LoadTLS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.MinVersion != tls.VersionTLS12 || c.ClientAuth != tls.RequestClientCert || len(c.Certificates) != 1 ||
		c.ClientCAs != nil || c.NextProtos[0] != "h2" {
		t.Errorf("config %+v", c)
	}
	cfg.ClientCAFile = ""
	if c, err = LoadTLS(cfg); err != nil || c.ClientAuth != tls.NoClientCert {
		t.Errorf("without a client CA: %v, %v", c.ClientAuth, err)
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Listen: "0.0.0.0:9443", CertFile: "c", KeyFile: "k", TokenFile: "t"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("off: %v", err)
	}
	for _, c := range []struct {
		edit func(*Config)
		says string
	}{
		{func(c *Config) { c.Listen = "" }, "webhook.cert_file is set but webhook.listen is empty"},
		{func(c *Config) { c.Listen = "9443" }, "want HOST:PORT"},
		{func(c *Config) { c.Listen = ":http" }, "bad port"},
		{func(c *Config) { c.Listen = ":70000" }, "bad port"},
		{func(c *Config) { c.Listen = "a b:1" }, "bad host"},
		{func(c *Config) { c.CertFile = "" }, "webhook.cert_file: required"},
		{func(c *Config) { c.KeyFile = "" }, "webhook.key_file: required"},
		{func(c *Config) { c.TokenFile = "" }, "anyone who can reach webhook.listen write fake events"},
		{func(c *Config) { c.MaxBodyBytes = 1000 }, "webhook.max_body_bytes"},
		{func(c *Config) { c.MaxBodyBytes = 2 << 30 }, "webhook.max_body_bytes"},
		{func(c *Config) { c.RetryAfter = 500 * time.Millisecond }, "webhook.retry_after"},
		{func(c *Config) { c.RetryAfter = time.Hour }, "webhook.retry_after"},
		{func(c *Config) { c.RetryAfter = 1500 * time.Millisecond }, "whole number of seconds"},
	} {
		cfg := ok
		c.edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v, want %q", cfg, err, c.says)
		}
	}
	var d Config
	d.SetDefaults()
	if d.MaxBodyBytes != DefaultMaxBodyBytes || d.RetryAfter != DefaultRetryAfter || d.Enabled() {
		t.Errorf("defaults %+v", d)
	}
	clientCAOnly := ok
	clientCAOnly.TokenFile, clientCAOnly.ClientCAFile = "", "ca"
	if err := clientCAOnly.Validate(); err != nil {
		t.Errorf("client CA only: %v", err)
	}
}
