package gelf

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Defaults and limits of [Config].
const (
	// DefaultMaxMessageBytes is the default cap on one encoded message (256 KiB),
	// well below Graylog's 2 MiB TCP frame limit.
	DefaultMaxMessageBytes = 256 << 10
	// MinMaxMessageBytes is the smallest accepted max_message_bytes: room for the
	// core fields of any record.
	MinMaxMessageBytes = 4096
	// DefaultMaxFieldBytes is the default cap on one additional string field.
	DefaultMaxFieldBytes = 16 << 10
	// MinMaxFieldBytes and MaxMaxFieldBytes bound max_field_bytes. Above 32766
	// bytes, OpenSearch refuses to index the field and the whole message is lost.
	MinMaxFieldBytes = 256
	MaxMaxFieldBytes = 32766

	maxHostBytes    = 255
	maxClusterBytes = 255
	maxStreamBytes  = 128
)

// FullMessageMode says what goes in full_message.
type FullMessageMode string

const (
	// FullMessageRaw sends the raw audit line (the default).
	FullMessageRaw FullMessageMode = "raw"
	// FullMessageNone sends no full_message for valid events. Lines that are not
	// valid events still carry their raw bytes, since nothing else describes them.
	FullMessageNone FullMessageMode = "none"
)

// UnmarshalText accepts "raw", "none" and "" (unset: [Config.SetDefaults] picks raw).
func (m *FullMessageMode) UnmarshalText(text []byte) error {
	switch v := FullMessageMode(text); v {
	case "", FullMessageRaw, FullMessageNone:
		*m = v
		return nil
	}
	return fmt.Errorf("invalid full_message %q: want one of %s, %s", text, FullMessageRaw, FullMessageNone)
}

// Config is the `gelf:` section of the YAML config. The zero value plus
// [Config.SetDefaults] is a valid configuration.
type Config struct {
	// Host is the GELF host field; empty means os.Hostname (resolved by NewEncoder).
	Host string `yaml:"host"`
	// Stream is the LDP stream write token, sent as _X-OVH-TOKEN; empty means the
	// field is not sent (plain Graylog). It is never logged nor put in errors.
	Stream string `yaml:"stream"`
	// StreamFile is a file holding the token; the command reads it, not this package.
	StreamFile string `yaml:"stream_file"`
	// FullMessage is "raw" (default: the raw event line) or "none".
	FullMessage FullMessageMode `yaml:"full_message"`
	// MaxMessageBytes caps one encoded message; default DefaultMaxMessageBytes.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxFieldBytes caps each additional string field; default DefaultMaxFieldBytes.
	MaxFieldBytes int `yaml:"max_field_bytes"`
	// Cluster, when set, is sent as _cluster.
	Cluster string `yaml:"cluster"`
}

// SetDefaults fills zero values with defaults. Host is left empty: NewEncoder
// resolves it.
func (c *Config) SetDefaults() {
	if c.FullMessage == "" {
		c.FullMessage = FullMessageRaw
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxFieldBytes == 0 {
		c.MaxFieldBytes = DefaultMaxFieldBytes
	}
}

// Validate checks a defaulted Config and returns every problem found, each
// naming its key (gelf.<key>). Errors never contain the stream token.
func (c Config) Validate() error {
	var errs []error
	if c.MaxMessageBytes < MinMaxMessageBytes {
		errs = append(errs, fmt.Errorf("gelf.max_message_bytes: %d is below the minimum %d", c.MaxMessageBytes, MinMaxMessageBytes))
	}
	if c.MaxFieldBytes < MinMaxFieldBytes || c.MaxFieldBytes > MaxMaxFieldBytes {
		errs = append(errs, fmt.Errorf("gelf.max_field_bytes: %d is outside [%d, %d]", c.MaxFieldBytes, MinMaxFieldBytes, MaxMaxFieldBytes))
	}
	switch c.FullMessage {
	case FullMessageRaw, FullMessageNone:
	default:
		errs = append(errs, fmt.Errorf("gelf.full_message: invalid value %q: want one of %s, %s", c.FullMessage, FullMessageRaw, FullMessageNone))
	}
	if err := checkText(c.Host, maxHostBytes); err != nil {
		errs = append(errs, fmt.Errorf("gelf.host: %w", err))
	} else if c.Host != "" && strings.TrimSpace(c.Host) == "" {
		errs = append(errs, errors.New("gelf.host: blank"))
	}
	if err := checkText(c.Cluster, maxClusterBytes); err != nil {
		errs = append(errs, fmt.Errorf("gelf.cluster: %w", err))
	}
	if !validToken(c.Stream) {
		errs = append(errs, fmt.Errorf("gelf.stream: must be at most %d printable ASCII characters, without spaces, quotes or backslashes (value not shown)", maxStreamBytes))
	}
	return errors.Join(errs...)
}

// String describes c with the stream token redacted, so that a Config can be
// logged.
func (c Config) String() string {
	stream := ""
	if c.Stream != "" {
		stream = "<redacted>"
	}
	return fmt.Sprintf("{Host:%q Stream:%s StreamFile:%q FullMessage:%s MaxMessageBytes:%d MaxFieldBytes:%d Cluster:%q}",
		c.Host, stream, c.StreamFile, c.FullMessage, c.MaxMessageBytes, c.MaxFieldBytes, c.Cluster)
}

// GoString is String, so that %#v does not print the token either.
func (c Config) GoString() string { return "gelf.Config" + c.String() }

// checkText accepts valid UTF-8 without control characters, at most max bytes.
func checkText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%d bytes, want at most %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7F {
			return fmt.Errorf("control character %q not allowed", r)
		}
	}
	return nil
}

func validToken(s string) bool {
	if len(s) > maxStreamBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7F || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
