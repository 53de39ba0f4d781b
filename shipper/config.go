package shipper

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by [Config.SetDefaults] to zero fields.
const (
	DefaultTLSPort       = 12202 // LDP GELF TCP+TLS input
	DefaultTCPPort       = 2202  // LDP GELF plain TCP input
	DefaultDialTimeout   = 10 * time.Second
	DefaultWriteTimeout  = 30 * time.Second
	DefaultBackoffMin    = 500 * time.Millisecond
	DefaultBackoffMax    = 30 * time.Second
	DefaultFlushInterval = 10 * time.Millisecond
	DefaultWindowBytes   = 8 << 20

	// MinWindowBytes is the smallest accepted window_bytes. It holds several
	// messages of the pipeline's default 256 KiB cap. A single message
	// larger than the window is still accepted when the window is empty (it
	// never deadlocks), but it then travels alone.
	MinWindowBytes = 1 << 20
)

// StdoutEndpoint is the endpoint value that writes one JSON message per
// line to standard output instead of a network connection.
const StdoutEndpoint = "-"

// Config is the `output:` section of the YAML config. A zero duration or
// size means "use the default"; see [Config.SetDefaults].
type Config struct {
	Endpoint      string        `yaml:"endpoint"`        // tls://HOST[:PORT] (default port 12202), tcp://HOST[:PORT] (default 2202), or "-" (stdout, one JSON message per line)
	CACert        string        `yaml:"ca_cert"`         // PEM file added to the system roots
	ClientCert    string        `yaml:"client_cert"`     // PEM, for mutual TLS (with ClientKey)
	ClientKey     string        `yaml:"client_key"`      // PEM private key of ClientCert
	ServerName    string        `yaml:"tls_server_name"` // overrides the name verified (default: the endpoint host)
	DialTimeout   time.Duration `yaml:"dial_timeout"`    // TCP connect + TLS handshake; default 10s
	WriteTimeout  time.Duration `yaml:"write_timeout"`   // deadline of every write; also TCP_USER_TIMEOUT on Linux; default 30s
	BackoffMin    time.Duration `yaml:"backoff_min"`     // first reconnect delay; default 500ms
	BackoffMax    time.Duration `yaml:"backoff_max"`     // reconnect delay cap; default 30s
	FlushInterval time.Duration `yaml:"flush_interval"`  // max time a written message waits in the buffer; default 10ms
	WindowBytes   int           `yaml:"window_bytes"`    // replay window bound (bytes of unconfirmed messages); default 8 MiB, minimum 1 MiB; also bounds throughput to about window_bytes per 100 ms
}

// SetDefaults replaces zero fields with their defaults. It leaves the
// endpoint and the TLS files alone.
func (c *Config) SetDefaults() {
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.WindowBytes == 0 {
		c.WindowBytes = DefaultWindowBytes
	}
}

// Validate reports the first problem in the configuration, naming the YAML
// key (output.<key>). Zero values are checked as their defaults. It also
// loads the TLS files, so a missing or unparsable file is reported here,
// with its path.
func (c Config) Validate() error {
	_, err := c.resolve()
	return err
}

// endpoint is a parsed Config.Endpoint.
type endpoint struct {
	scheme string // "tls", "tcp" or "-"
	host   string // without brackets
	port   int
}

// addr is host:port for net.Dial.
func (e endpoint) addr() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

// String is the normalised endpoint used in errors and logs.
func (e endpoint) String() string {
	if e.scheme == StdoutEndpoint {
		return "stdout"
	}
	return e.scheme + "://" + e.addr()
}

// resolved is a validated Config with its endpoint parsed and its TLS
// material loaded.
type resolved struct {
	cfg Config // defaults applied
	ep  endpoint
	tls *tls.Config // nil unless ep.scheme == "tls"
}

func (c Config) resolve() (resolved, error) {
	c.SetDefaults()
	ep, err := parseEndpoint(c.Endpoint)
	if err != nil {
		return resolved{}, err
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"dial_timeout", c.DialTimeout},
		{"write_timeout", c.WriteTimeout},
		{"backoff_min", c.BackoffMin},
		{"backoff_max", c.BackoffMax},
		{"flush_interval", c.FlushInterval},
	} {
		if d.v < 0 {
			return resolved{}, fmt.Errorf("output.%s: %s is negative", d.key, d.v)
		}
	}
	if c.BackoffMin > c.BackoffMax {
		return resolved{}, fmt.Errorf("output.backoff_min: %s is larger than output.backoff_max %s", c.BackoffMin, c.BackoffMax)
	}
	if c.WindowBytes < MinWindowBytes {
		return resolved{}, fmt.Errorf("output.window_bytes: %d is smaller than the minimum %d (1 MiB): the window must hold at least one maximum-size message", c.WindowBytes, MinWindowBytes)
	}
	if c.ClientCert != "" && c.ClientKey == "" {
		return resolved{}, errors.New("output.client_cert is set but output.client_key is not (mutual TLS needs both)")
	}
	if c.ClientKey != "" && c.ClientCert == "" {
		return resolved{}, errors.New("output.client_key is set but output.client_cert is not (mutual TLS needs both)")
	}
	r := resolved{cfg: c, ep: ep}
	if ep.scheme != "tls" {
		for _, f := range []struct{ key, v string }{
			{"ca_cert", c.CACert}, {"client_cert", c.ClientCert}, {"tls_server_name", c.ServerName},
		} {
			if f.v != "" {
				return resolved{}, fmt.Errorf("output.%s is set but output.endpoint %q does not use TLS (use tls://)", f.key, c.Endpoint)
			}
		}
		return r, nil
	}
	r.tls, err = c.tlsConfig(ep)
	if err != nil {
		return resolved{}, err
	}
	return r, nil
}

// parseEndpoint accepts "-", tls://HOST[:PORT] and tcp://HOST[:PORT].
func parseEndpoint(s string) (endpoint, error) {
	const want = `want tls://HOST[:PORT], tcp://HOST[:PORT] or "-"`
	if s == StdoutEndpoint {
		return endpoint{scheme: StdoutEndpoint}, nil
	}
	if s == "" {
		return endpoint{}, fmt.Errorf("output.endpoint: missing (%s)", want)
	}
	if !strings.Contains(s, "://") {
		return endpoint{}, fmt.Errorf("output.endpoint %q: missing scheme (%s)", s, want)
	}
	u, err := url.Parse(s)
	if err != nil {
		return endpoint{}, fmt.Errorf("output.endpoint %q: %w", s, err)
	}
	ep := endpoint{scheme: strings.ToLower(u.Scheme)}
	switch ep.scheme {
	case "tls":
		ep.port = DefaultTLSPort
	case "tcp":
		ep.port = DefaultTCPPort
	default:
		return endpoint{}, fmt.Errorf("output.endpoint %q: unsupported scheme %q (%s)", s, u.Scheme, want)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return endpoint{}, fmt.Errorf("output.endpoint %q: unexpected user, path, query or fragment (%s)", s, want)
	}
	ep.host = u.Hostname()
	if ep.host == "" {
		return endpoint{}, fmt.Errorf("output.endpoint %q: missing host (%s)", s, want)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return endpoint{}, fmt.Errorf("output.endpoint %q: bad port %q (want 1-65535)", s, p)
		}
		ep.port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return endpoint{}, fmt.Errorf("output.endpoint %q: empty port (want 1-65535)", s)
	}
	return ep, nil
}

// tlsConfig builds the client TLS configuration: TLS 1.2 or later, the
// system roots plus CACert, the client certificate if configured, and
// ServerName defaulting to the endpoint host.
func (c Config) tlsConfig(ep endpoint) (*tls.Config, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool() // no system store (e.g. a scratch image): only ca_cert is trusted
	}
	if c.CACert != "" {
		pemBytes, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("output.ca_cert: %w", err)
		}
		n, err := addPEMCerts(roots, pemBytes)
		if err != nil {
			return nil, fmt.Errorf("output.ca_cert %s: %w", c.CACert, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("output.ca_cert %s: no PEM CERTIFICATE block found", c.CACert)
		}
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    roots,
		ServerName: ep.host,
	}
	if c.ServerName != "" {
		cfg.ServerName = c.ServerName
	}
	if c.ClientCert != "" {
		for _, f := range []struct{ key, path string }{{"client_cert", c.ClientCert}, {"client_key", c.ClientKey}} {
			if _, err := os.Stat(f.path); err != nil {
				return nil, fmt.Errorf("output.%s: %w", f.key, err)
			}
		}
		cert, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("output.client_cert %s / output.client_key %s: %w", c.ClientCert, c.ClientKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// addPEMCerts adds every CERTIFICATE block of pemBytes to pool and returns
// how many it added. Unlike x509.CertPool.AppendCertsFromPEM it reports
// which certificate does not parse.
func addPEMCerts(pool *x509.CertPool, pemBytes []byte) (int, error) {
	n := 0
	for i := 1; ; i++ {
		var b *pem.Block
		b, pemBytes = pem.Decode(pemBytes)
		if b == nil {
			return n, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return n, fmt.Errorf("PEM block %d: %w", i, err)
		}
		pool.AddCert(cert)
		n++
	}
}
