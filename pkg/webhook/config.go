package webhook

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Defaults applied by [Config.SetDefaults] to zero fields, and limits
// checked by [Config.Validate].
const (
	// DefaultMaxBodyBytes bounds a request body. kube-apiserver's batches
	// hold at most --audit-webhook-batch-max-size events (default 400) of
	// usually 1–2 KB, but RequestResponse events carry whole objects.
	DefaultMaxBodyBytes = 64 << 20
	MinMaxBodyBytes     = 64 << 10
	MaxMaxBodyBytes     = 1 << 30

	// DefaultRetryAfter is the Retry-After sent with 429 and 503: as long
	// as kube-apiserver's own first back-off step (10s).
	DefaultRetryAfter = 10 * time.Second
	MinRetryAfter     = time.Second
	MaxRetryAfter     = 5 * time.Minute
)

// Config is the `webhook:` section of the configuration. A zero size or
// duration means "use the default"; see [Config.SetDefaults].
type Config struct {
	// Listen is the HOST:PORT the receiver listens on; "" turns it off.
	// Port 0 picks a free port (see [Receiver.Addr]).
	Listen string `yaml:"listen"`
	// CertFile and KeyFile are the receiver's certificate (PEM, the leaf
	// first, then any intermediates) and private key. Required when Listen
	// is set.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile is a PEM bundle of the CAs one of which must have signed
	// the sender's client certificate (the kubeconfig's client-certificate),
	// for client authentication.
	ClientCAFile string `yaml:"client_ca_file"`
	// TokenFile holds the bearer token the sender must present (the
	// kubeconfig's token): at least 16 characters, without spaces;
	// surrounding white space, such as a final newline, is ignored.
	TokenFile string `yaml:"token_file"`
	// MaxBodyBytes bounds a request body (default 64 MiB, 64 KiB..1 GiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// RetryAfter is sent with 429 (spool full) and 503 (spool error):
	// whole seconds, 1s..5m, default 10s.
	RetryAfter time.Duration `yaml:"retry_after"`
}

// SetDefaults replaces zero fields with their defaults. It leaves the
// address and the files alone.
func (c *Config) SetDefaults() {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
}

// Enabled reports whether the receiver is on (Listen is set).
func (c Config) Enabled() bool { return c.Listen != "" }

// Validate reports the first setting that cannot work, naming its YAML key
// (webhook.<key>). Zero values are checked as their defaults. It does not
// read the files; [CheckCert] and [New] do.
func (c Config) Validate() error {
	c.SetDefaults()
	if !c.Enabled() {
		for _, f := range []struct{ key, v string }{
			{"cert_file", c.CertFile}, {"key_file", c.KeyFile}, {"client_ca_file", c.ClientCAFile}, {"token_file", c.TokenFile},
		} {
			if f.v != "" {
				return fmt.Errorf("webhook.%s is set but webhook.listen is empty, which turns the receiver off: set webhook.listen (HOST:PORT)", f.key)
			}
		}
		return nil
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("webhook.listen %q: want HOST:PORT (for example 0.0.0.0:9443): %w", c.Listen, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("webhook.listen %q: bad port %q (want 1-65535, or 0 for any free port)", c.Listen, port)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Errorf("webhook.listen %q: bad host %q", c.Listen, host)
	}
	switch {
	case c.CertFile == "" && c.KeyFile == "":
		return errors.New("webhook.cert_file and webhook.key_file: required when webhook.listen is set (the receiver only speaks HTTPS)")
	case c.CertFile == "":
		return errors.New("webhook.cert_file: required when webhook.listen is set (the receiver only speaks HTTPS)")
	case c.KeyFile == "":
		return errors.New("webhook.key_file: required when webhook.listen is set (the receiver only speaks HTTPS)")
	case c.ClientCAFile == "" && c.TokenFile == "":
		return errors.New("webhook: neither webhook.client_ca_file nor webhook.token_file is set: " +
			"an unauthenticated receiver would let anyone who can reach webhook.listen write fake events into the audit trail; " +
			"set at least one (both is best) and give kube-apiserver's webhook kubeconfig the matching client certificate or token")
	}
	if c.MaxBodyBytes < MinMaxBodyBytes || c.MaxBodyBytes > MaxMaxBodyBytes {
		return fmt.Errorf("webhook.max_body_bytes: %d is outside %d (64 KiB) to %d (1 GiB)", c.MaxBodyBytes, int64(MinMaxBodyBytes), int64(MaxMaxBodyBytes))
	}
	if c.RetryAfter < MinRetryAfter || c.RetryAfter > MaxRetryAfter {
		return fmt.Errorf("webhook.retry_after: %s is outside %s to %s", c.RetryAfter, MinRetryAfter, MaxRetryAfter)
	}
	if c.RetryAfter%time.Second != 0 {
		return fmt.Errorf("webhook.retry_after: %s is not a whole number of seconds (Retry-After carries seconds)", c.RetryAfter)
	}
	return nil
}

// validHostname accepts letters, digits, '-' and '.' (a DNS name to
// resolve to the address to listen on).
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, c := range []byte(h) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
