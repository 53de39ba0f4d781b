// Package config is audittail's configuration file: one YAML document whose
// sections belong to the packages that use them (tail → tailer, checkpoint →
// checkpoint, gelf → pkg/gelf, output → shipper, policy and redact →
// pkg/process, webhook → pkg/webhook, spool → pkg/spool) plus the agent's own log
// settings. Decoding is strict: an unknown key is an error that names it.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/pkg/gelf"
	"github.com/audittail/audittail/pkg/process"
	"github.com/audittail/audittail/pkg/spool"
	"github.com/audittail/audittail/pkg/webhook"
	"github.com/audittail/audittail/shipper"
	"github.com/audittail/audittail/tailer"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration.
type Config struct {
	// Preset names a distribution (kubeadm, k3s, rke2, openshift, talos,
	// kind): with no tail.path or tail.paths, the agent follows the audit
	// logs where that distribution writes them (see Presets).
	Preset     string               `yaml:"preset"`
	Tail       tailer.Config        `yaml:"tail"`
	Checkpoint checkpoint.Config    `yaml:"checkpoint"`
	GELF       gelf.Config          `yaml:"gelf"`
	Output     shipper.Config       `yaml:"output"`
	Policy     process.PolicyConfig `yaml:"policy"`
	Redact     process.RedactConfig `yaml:"redact"`
	Webhook    webhook.Config       `yaml:"webhook"`
	Spool      spool.Config         `yaml:"spool"`
	Metrics    Metrics              `yaml:"metrics"`
	Log        Log                  `yaml:"log"`
}

// Log configures the agent's own log.
type Log struct {
	Level  string    `yaml:"level"`  // trace, debug, info, warn, error
	Format LogFormat `yaml:"format"` // json or console
	// File receives the log instead of standard error when set. It is
	// opened for appending, and re-opened on SIGHUP (after logrotate
	// moved it).
	File string `yaml:"file"`
}

// Metrics configures the HTTP endpoint for Prometheus and health checks.
type Metrics struct {
	// Addr is HOST:PORT to serve /metrics, /healthz and /readyz on; ""
	// (the default) serves nothing.
	Addr string `yaml:"addr"`
	// StallTimeout: /readyz fails when the oldest unconfirmed event has
	// waited longer than this (default 2m).
	StallTimeout time.Duration `yaml:"stall_timeout"`
}

// DefaultStallTimeout is the default Metrics.StallTimeout.
const DefaultStallTimeout = 2 * time.Minute

// LogFormat is json (default, for machines) or console (for people).
type LogFormat string

// Values of LogFormat.
const (
	LogJSON    LogFormat = "json"
	LogConsole LogFormat = "console"
)

// UnmarshalText rejects unknown formats.
func (f *LogFormat) UnmarshalText(b []byte) error {
	switch v := LogFormat(b); v {
	case LogJSON, LogConsole:
		*f = v
		return nil
	}
	return fmt.Errorf("log format %q: want %q or %q", b, LogJSON, LogConsole)
}

// SetDefaults fills every zero field with its default.
//
// tail.path is not defaulted when the webhook receiver is on: the agent
// then follows an audit log only when one is given.
func (c *Config) SetDefaults() {
	if p, err := LookupPreset(c.Preset); c.Preset != "" && err == nil && c.Tail.Path == "" && len(c.Tail.Paths) == 0 {
		if len(p.Paths) == 1 {
			c.Tail.Path = p.Paths[0]
		} else {
			c.Tail.Paths = append([]string(nil), p.Paths...)
		}
	}
	receiverOnly := c.Webhook.Enabled() && c.Tail.Path == "" && len(c.Tail.Paths) == 0
	c.Tail.SetDefaults()
	if receiverOnly {
		c.Tail.Path = ""
	}
	c.Webhook.SetDefaults()
	if c.Webhook.Enabled() {
		c.Spool.SetDefaults()
	}
	c.Checkpoint.SetDefaults()
	c.GELF.SetDefaults()
	c.Output.SetDefaults()
	c.Redact.SetDefaults()
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = LogJSON
	}
	if c.Metrics.StallTimeout == 0 {
		c.Metrics.StallTimeout = DefaultStallTimeout
	}
}

// Validate reports the first setting that cannot work, naming its key.
func (c Config) Validate() error {
	if c.Preset != "" {
		if _, err := LookupPreset(c.Preset); err != nil {
			return fmt.Errorf("preset: %w", err)
		}
	}
	tc := c.Tail
	if !c.TailsFile() {
		if !c.Webhook.Enabled() {
			return errors.New("tail.path: must not be empty (or set webhook.listen to receive the audit webhook instead)")
		}
		tc.Path = "audit.log" // the other tail settings apply to the spool
	}
	if err := tc.Validate(); err != nil {
		return err
	}
	if c.Webhook.Enabled() {
		if err := c.Webhook.Validate(); err != nil {
			return err
		}
		if err := c.Spool.Validate(); err != nil {
			return err
		}
	}
	if err := c.Checkpoint.Validate(); err != nil {
		return err
	}
	if err := c.GELF.Validate(); err != nil {
		return err
	}
	if err := c.Output.Validate(); err != nil {
		return err
	}
	if _, err := zerolog.ParseLevel(c.Log.Level); err != nil || c.Log.Level == "" {
		return fmt.Errorf("log.level: %q: want trace, debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != LogJSON && c.Log.Format != LogConsole {
		return fmt.Errorf("log.format: %q: want json or console", c.Log.Format)
	}
	if a := c.Metrics.Addr; a != "" {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return fmt.Errorf("metrics.addr: %q: want HOST:PORT, e.g. 127.0.0.1:9102 or :9102", a)
		}
	}
	if c.Metrics.StallTimeout < 0 {
		return fmt.Errorf("metrics.stall_timeout: %s is negative", c.Metrics.StallTimeout)
	}
	return nil
}

// TailsFile reports whether the agent follows an audit log file (tail.path
// or tail.paths set). Without one, it only receives the audit webhook.
func (c Config) TailsFile() bool { return len(c.Tail.Logs()) > 0 }

// Load reads a YAML file into c, over whatever c already holds. It does not
// apply defaults or validate.
func Load(path string, c *Config) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	if err := Decode(f, c); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type (\S+)`)

// Decode reads one YAML document strictly.
func Decode(r io.Reader, c *Config) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return friendlier(err)
	}
	return nil
}

// sections maps the Go types yaml.v3 names in its errors to the YAML section.
var sections = map[string]string{
	"config.Config":        "",
	"config.Log":           "log.",
	"config.Metrics":       "metrics.",
	"tailer.Config":        "tail.",
	"checkpoint.Config":    "checkpoint.",
	"gelf.Config":          "gelf.",
	"shipper.Config":       "output.",
	"process.PolicyConfig": "policy.",
	"process.RedactConfig": "redact.",
	"webhook.Config":       "webhook.",
	"spool.Config":         "spool.",
}

// friendlier rewrites yaml.v3's unknown-field errors ("line 3: field foo not
// found in type tailer.Config") to name the key as the user wrote it.
func friendlier(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		if m := unknownField.FindStringSubmatch(e); m != nil {
			if sec, ok := sections[m[3]]; ok {
				msgs = append(msgs, fmt.Sprintf("line %s: unknown key %q", m[1], sec+m[2]))
				continue
			}
		}
		msgs = append(msgs, e)
	}
	return errors.New(strings.Join(msgs, "; "))
}
