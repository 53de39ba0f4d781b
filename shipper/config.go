package shipper

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by [Config.SetDefaults] to zero fields.
const (
	DefaultTLSPort      = 12202 // LDP GELF TCP+TLS input
	DefaultTCPPort      = 2202  // LDP GELF plain TCP input
	DefaultDialTimeout  = 10 * time.Second
	DefaultWriteTimeout = 30 * time.Second
	DefaultBackoffMin   = 500 * time.Millisecond
	DefaultBackoffMax   = 30 * time.Second
	DefaultWindowBytes  = 16 << 20

	DefaultUDPPort      = 2202 // LDP GELF UDP input
	DefaultChunkSize    = 1420 // UDP datagram size, header included: fits a 1500-byte MTU (gelf-rb's "WAN")
	MinChunkSize        = 512
	MaxChunkSize        = 65507 // largest UDP payload over IPv4
	DefaultHTTPPath     = "/gelf"
	DefaultHTTPMaxBody  = 64 << 10 // Graylog's GELF HTTP input max_chunk_size default
	MinHTTPMaxBodyBytes = 4 << 10

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
	// Endpoint is where messages go: tls://HOST[:PORT] (default port
	// 12202), tcp://HOST[:PORT] (default 2202), udp://HOST[:PORT] (default
	// 2202), http://HOST[:PORT][/PATH] or https://... (path default /gelf),
	// or "-" (stdout, one JSON message per line).
	Endpoint      string        `yaml:"endpoint"`
	CACert        string        `yaml:"ca_cert"`         // PEM file added to the system roots
	ClientCert    string        `yaml:"client_cert"`     // PEM, for mutual TLS (with ClientKey)
	ClientKey     string        `yaml:"client_key"`      // PEM private key of ClientCert
	ServerName    string        `yaml:"tls_server_name"` // overrides the name verified (default: the endpoint host)
	DialTimeout   time.Duration `yaml:"dial_timeout"`    // TCP connect + TLS handshake; default 10s
	WriteTimeout  time.Duration `yaml:"write_timeout"`   // deadline of every write; also TCP_USER_TIMEOUT on Linux; default 30s
	BackoffMin    time.Duration `yaml:"backoff_min"`     // first reconnect delay; default 500ms
	BackoffMax    time.Duration `yaml:"backoff_max"`     // reconnect delay cap; default 30s
	FlushInterval time.Duration `yaml:"flush_interval"`  // how long written messages may wait in the buffer for more; default 0: each batch is written at once
	WindowBytes   int           `yaml:"window_bytes"`    // replay window bound (bytes of unconfirmed messages); default 16 MiB, minimum 1 MiB; also bounds throughput to about window_bytes per 25 ms

	// Compression of udp:// payloads (gzip, the GELF default; zlib; none)
	// and http(s):// bodies (gzip, the default; none). TCP and TLS carry
	// no compression (the GELF spec forbids it there).
	Compression Compression `yaml:"compression"`
	// ChunkSize is the largest UDP datagram, chunk header included
	// (default 1420, 512..65507). A message takes at most 128 chunks.
	ChunkSize int `yaml:"chunk_size"`
	// HTTPBulk sends several newline-separated messages per request, for a
	// Graylog GELF HTTP input with "Enable Bulk Receiving" on. Without it,
	// each request carries one message.
	HTTPBulk bool `yaml:"http_bulk"`
	// HTTPMaxBodyBytes bounds an uncompressed request body (default 65536,
	// the input's max_chunk_size default). A message never exceeds it.
	HTTPMaxBodyBytes int `yaml:"http_max_body_bytes"`
	// HTTPHeaders are added to every request, for example the
	// authorization header a Graylog input or a proxy requires.
	HTTPHeaders map[string]string `yaml:"http_headers"`
	// AllowCleartext accepts a tcp://, udp:// or http:// endpoint on
	// Logs Data Platform (a host under .logs.ovh.com), which is refused
	// otherwise: there every message carries the stream token, and the
	// audit trail and the token would cross the network in clear.
	AllowCleartext bool `yaml:"allow_cleartext"`
}

// ldpDomain is the domain of OVHcloud Logs Data Platform's clusters
// (<cluster>.logs.ovh.com, shown on the account's Home page).
const ldpDomain = ".logs.ovh.com"

// Cleartext reports whether the endpoint sends without TLS over the
// network: tcp://, udp:// or http://. Standard output is not a network
// and an endpoint that does not parse is neither.
func (c Config) Cleartext() bool {
	ep, err := parseEndpoint(c.Endpoint)
	return err == nil && !ep.usesTLS() && ep.scheme != StdoutEndpoint
}

// MaxMessageBytes is the size of the largest message the endpoint's
// transport carries whatever its content, or 0 when it sets no bound of its
// own (tcp://, tls://, stdout) or the bound depends on how well the message
// compresses (udp:// with compression): http(s):// takes at most
// http_max_body_bytes with the newline, udp:// without compression what
// 128 chunks carry. It is a function of the configuration alone, so that
// an encoder can be capped before any Shipper exists.
func (c Config) MaxMessageBytes() int {
	c.SetDefaults()
	ep, err := parseEndpoint(c.Endpoint)
	switch {
	case err != nil:
		return 0
	case ep.isHTTP():
		return c.HTTPMaxBodyBytes - 1
	case ep.scheme == "udp" && c.Compression == CompressNone:
		return maxChunks * (c.ChunkSize - chunkHeaderSize)
	}
	return 0
}

// IsLDP reports whether the endpoint is a Logs Data Platform cluster.
func (c Config) IsLDP() bool {
	ep, err := parseEndpoint(c.Endpoint)
	return err == nil && isLDPHost(ep.host)
}

func isLDPHost(host string) bool {
	return strings.HasSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), ldpDomain)
}

// Compression is the payload compression of udp:// and http(s)://.
type Compression string

// Values of Compression.
const (
	CompressGzip Compression = "gzip"
	CompressZlib Compression = "zlib"
	CompressNone Compression = "none"
)

// UnmarshalText rejects unknown values.
func (c *Compression) UnmarshalText(b []byte) error {
	switch v := Compression(b); v {
	case CompressGzip, CompressZlib, CompressNone:
		*c = v
		return nil
	}
	return fmt.Errorf("compression %q: want gzip, zlib or none", b)
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
	if c.WindowBytes == 0 {
		c.WindowBytes = DefaultWindowBytes
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.HTTPMaxBodyBytes == 0 {
		c.HTTPMaxBodyBytes = DefaultHTTPMaxBody
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
	scheme string // "tls", "tcp", "udp", "http", "https" or "-"
	host   string // without brackets
	port   int
	path   string // http(s) only: the request path, default /gelf
}

// addr is host:port for net.Dial.
func (e endpoint) addr() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

// String is the normalised endpoint used in errors and logs.
func (e endpoint) String() string {
	if e.scheme == StdoutEndpoint {
		return "stdout"
	}
	return e.scheme + "://" + e.addr() + e.path
}

// usesTLS reports whether the endpoint's scheme speaks TLS.
func (e endpoint) usesTLS() bool { return e.scheme == "tls" || e.scheme == "https" }

// isHTTP reports an http:// or https:// endpoint.
func (e endpoint) isHTTP() bool { return e.scheme == "http" || e.scheme == "https" }

// resolved is a validated Config with its endpoint parsed and its TLS
// material loaded.
type resolved struct {
	cfg Config // defaults applied
	ep  endpoint
	tls *tls.Config // nil unless the endpoint uses TLS
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
	if err := c.checkTransportKeys(ep); err != nil {
		return resolved{}, err
	}
	if !ep.usesTLS() && ep.scheme != StdoutEndpoint && isLDPHost(ep.host) && !c.AllowCleartext {
		return resolved{}, fmt.Errorf("output.endpoint %s sends the audit trail and the stream token in clear to Logs Data Platform: "+
			"use tls://%s:%d, or set output.allow_cleartext: true to accept that", ep, ep.host, DefaultTLSPort)
	}
	if ep.scheme == "udp" || ep.isHTTP() {
		if c.Compression == "" {
			c.Compression = CompressGzip
		}
	}
	r := resolved{cfg: c, ep: ep}
	if !ep.usesTLS() {
		for _, f := range []struct{ key, v string }{
			{"ca_cert", c.CACert}, {"client_cert", c.ClientCert}, {"tls_server_name", c.ServerName},
		} {
			if f.v != "" {
				return resolved{}, fmt.Errorf("output.%s is set but output.endpoint %q does not use TLS (use tls:// or https://)", f.key, c.Endpoint)
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

// checkTransportKeys rejects settings that the endpoint's transport does
// not use, so a typo in the scheme does not silently ignore them.
func (c Config) checkTransportKeys(ep endpoint) error {
	switch {
	case c.Compression != "" && ep.scheme != "udp" && !ep.isHTTP():
		return fmt.Errorf("output.compression is set but output.endpoint %q is not udp://, http:// or https:// (GELF over TCP is never compressed)", c.Endpoint)
	case c.Compression == CompressZlib && ep.isHTTP():
		return fmt.Errorf("output.compression: zlib is for udp:// only; http(s):// takes gzip or none")
	case c.ChunkSize < MinChunkSize || c.ChunkSize > MaxChunkSize:
		return fmt.Errorf("output.chunk_size: %d is outside %d..%d", c.ChunkSize, MinChunkSize, MaxChunkSize)
	case c.ChunkSize != DefaultChunkSize && ep.scheme != "udp":
		return fmt.Errorf("output.chunk_size is set but output.endpoint %q is not udp://", c.Endpoint)
	case c.HTTPMaxBodyBytes < MinHTTPMaxBodyBytes:
		return fmt.Errorf("output.http_max_body_bytes: %d is smaller than the minimum %d", c.HTTPMaxBodyBytes, MinHTTPMaxBodyBytes)
	case !ep.isHTTP() && (c.HTTPBulk || c.HTTPMaxBodyBytes != DefaultHTTPMaxBody || len(c.HTTPHeaders) > 0):
		return fmt.Errorf("output.http_* is set but output.endpoint %q is not http:// or https://", c.Endpoint)
	}
	for k, v := range c.HTTPHeaders {
		if !validHeaderName(k) {
			return fmt.Errorf("output.http_headers: %q is not a valid header name", k)
		}
		if !validHeaderValue(v) {
			return fmt.Errorf("output.http_headers.%s: the value contains a character not allowed in a header", k)
		}
		switch http.CanonicalHeaderKey(k) {
		case "Content-Type", "Content-Encoding", "Content-Length", "Host", "Transfer-Encoding", "Connection":
			return fmt.Errorf("output.http_headers: %s is set by the agent", k)
		}
	}
	return nil
}

// validHeaderName reports whether k is an HTTP token (RFC 9110 5.1).
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue rejects control characters other than tab (RFC 9110 5.5).
func validHeaderValue(v string) bool {
	for _, c := range []byte(v) {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// parseEndpoint accepts "-", tls://, tcp://, udp:// (HOST[:PORT]) and
// http:// and https:// (HOST[:PORT][/PATH]).
func parseEndpoint(s string) (endpoint, error) {
	const want = `want tls://, tcp:// or udp://HOST[:PORT], http(s)://HOST[:PORT][/PATH], or "-"`
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
	case "udp":
		ep.port = DefaultUDPPort
	case "http":
		ep.port = 80
	case "https":
		ep.port = 443
	default:
		return endpoint{}, fmt.Errorf("output.endpoint %q: unsupported scheme %q (%s)", s, u.Scheme, want)
	}
	if ep.isHTTP() {
		if u.User != nil || u.Fragment != "" {
			return endpoint{}, fmt.Errorf("output.endpoint %q: unexpected user or fragment (put credentials in output.http_headers)", s)
		}
		ep.path = u.EscapedPath()
		if ep.path == "" || ep.path == "/" {
			ep.path = DefaultHTTPPath
		}
		if u.RawQuery != "" {
			ep.path += "?" + u.RawQuery
		}
	} else if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
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
