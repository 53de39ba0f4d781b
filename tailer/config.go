package tailer

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// StartAt says where to begin in a file the checkpoint does not know.
type StartAt string

// Values of StartAt.
const (
	StartBeginning StartAt = "beginning" // read the whole file
	StartEnd       StartAt = "end"       // skip what is already in the file
)

// UnmarshalText accepts only the known values, so a typo in the config is an error.
func (s *StartAt) UnmarshalText(b []byte) error {
	switch v := StartAt(b); v {
	case StartBeginning, StartEnd:
		*s = v
		return nil
	default:
		return fmt.Errorf("start_at %q: want %q or %q", b, StartBeginning, StartEnd)
	}
}

// Config is the `tail:` section of the configuration.
type Config struct {
	// Path of the live audit log, as given to kube-apiserver's --audit-log-path.
	// Rotated backups are looked for in the same directory under lumberjack's
	// names: <name>-<UTC time><ext>[.gz]. When the file is found truncated in
	// place, the rest of its old content is looked for in the copy logrotate's
	// copytruncate made: <name>.<n> or <name>-<date>, plain or .gz.
	Path string `yaml:"path"`
	// StartAt applies to a file the checkpoint does not know when the agent starts.
	// Files that appear later are always read from their beginning.
	StartAt StartAt `yaml:"start_at"`
	// PollInterval is how often the file is checked with fstat even when inotify
	// reports nothing. It is the only source of wake-ups when inotify is unusable.
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxLineBytes bounds the memory used for one line. A longer line is cut to
	// this size and handed on flagged as truncated; the rest of it is skipped.
	MaxLineBytes int `yaml:"max_line_bytes"`
}

// Defaults.
const (
	DefaultPath         = "/var/log/kubernetes/audit/audit.log"
	DefaultPollInterval = 250 * time.Millisecond
	DefaultMaxLineBytes = 16 << 20
)

// SetDefaults fills zero fields with their defaults.
func (c *Config) SetDefaults() {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.StartAt == "" {
		c.StartAt = StartBeginning
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Path == "":
		return errors.New("tail.path: must not be empty")
	case c.Path == "-":
		return errors.New("tail.path: \"-\" means kube-apiserver writes the audit log to its standard output, which cannot be tailed; set --audit-log-path to a file")
	case filepath.Base(c.Path) == "." || filepath.Base(c.Path) == string(filepath.Separator):
		return fmt.Errorf("tail.path: %q is not a file name", c.Path)
	}
	if c.StartAt != StartBeginning && c.StartAt != StartEnd {
		return fmt.Errorf("tail.start_at: %q: want %q or %q", c.StartAt, StartBeginning, StartEnd)
	}
	if c.PollInterval < 10*time.Millisecond || c.PollInterval > 10*time.Second {
		return fmt.Errorf("tail.poll_interval: %s is out of range (10ms to 10s)", c.PollInterval)
	}
	if c.MaxLineBytes < 64<<10 || c.MaxLineBytes > 1<<30 {
		return fmt.Errorf("tail.max_line_bytes: %d is out of range (65536 to 1073741824)", c.MaxLineBytes)
	}
	return nil
}
