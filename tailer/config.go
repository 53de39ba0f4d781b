package tailer

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
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

// Rotation names who rotates the log, which tells where its backups are and
// how they are named.
type Rotation string

// Values of Rotation.
const (
	// RotationLumberjack is kube-apiserver's own rotation of its audit log
	// file (--audit-log-maxsize): <name>-<UTC time><ext>[.gz].
	RotationLumberjack Rotation = "lumberjack"
	// RotationKubelet is kubelet's rotation of a container log
	// (containerLogMaxSize, containerLogMaxFiles): <dir>/<n>.log is renamed
	// to <dir>/<n>.log.<local time YYYYMMDD-hhmmss>, the runtime reopens a
	// new <n>.log, and older backups are gzipped (see kubelet.go). The
	// container's next instance logs to <dir>/<n+1>.log, which the tailer
	// follows.
	RotationKubelet Rotation = "kubelet"
)

// UnmarshalText accepts only the known values, so a typo in the config is an error.
func (r *Rotation) UnmarshalText(b []byte) error {
	switch v := Rotation(b); v {
	case RotationLumberjack, RotationKubelet:
		*r = v
		return nil
	default:
		return fmt.Errorf("rotation %q: want %q or %q", b, RotationLumberjack, RotationKubelet)
	}
}

// Config is the `tail:` section of the configuration.
type Config struct {
	// Path of the live audit log, as given to kube-apiserver's --audit-log-path.
	// Rotated backups are looked for in the same directory under lumberjack's
	// names: <name>-<UTC time><ext>[.gz]. When the file is found truncated in
	// place, the rest of its old content is looked for in the copy logrotate's
	// copytruncate made: <name>.<n> or <name>-<date>, plain or .gz. With
	// Rotation RotationKubelet, it is a container log, or its directory (see
	// Rotation).
	Path string `yaml:"path"`
	// Paths are several audit logs for one agent (OpenShift writes one per
	// API server; a node may run several kube-apiservers or aggregated API
	// servers), each followed by its own Tailer with Path set to it and the
	// other settings shared. Set Path or Paths, not both.
	Paths []string `yaml:"paths"`
	// StartAt applies to a file the checkpoint does not know when the agent starts.
	// Files that appear later are always read from their beginning.
	StartAt StartAt `yaml:"start_at"`
	// PollInterval is how long Wait waits when inotify reports nothing, and
	// how old the last check that the path still names the file being read
	// may get: the safety net for changes inotify does not report. It is the
	// only source of wake-ups when inotify is unusable. An idle agent wakes
	// up once per PollInterval.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Linger is how long Wait lets writes accumulate while the log is busy
	// (after a change) before returning: the writes of that time become one
	// batch, read, encoded and sent with one wake-up of the agent, whose
	// cost in CPU dominates at a steady rate. It adds at most this much to
	// the latency from write to server. Zero means no linger; SetDefaults,
	// which fills zero fields, replaces it with DefaultLinger, so a
	// configuration that wants none gives the smallest duration, 1ns.
	Linger time.Duration `yaml:"linger"`
	// MaxLineBytes bounds the memory used for one line. A longer line is cut to
	// this size and handed on flagged as truncated; the rest of it is skipped.
	MaxLineBytes int `yaml:"max_line_bytes"`
	// Rotation says how the log is rotated: RotationLumberjack (the
	// default) for kube-apiserver's audit log file, RotationKubelet for the
	// container log of a kube-apiserver that writes its audit log to its
	// standard output (--audit-log-path=-). With RotationKubelet, Path is
	// the container's log directory,
	// /var/log/pods/<namespace>_<pod>_<uid>/<container> (a Path that is a
	// directory, or does not exist and does not end in ".log"), whose
	// newest <n>.log is followed, or one <n>.log in it; either way the
	// logs of the container's later instances are followed in turn. Path
	// may also be a glob pattern of such directories,
	// /var/log/pods/kube-system_kube-apiserver-*/kube-apiserver: a static
	// pod's UID, and so its log directory, changes with its manifest, and
	// the directories matched are followed as one log, in the order the
	// pods came (see pods.go).
	Rotation Rotation `yaml:"rotation"`
	// Format is the shape of the lines: "audit" (the default), one audit
	// event per line as kube-apiserver's log backend writes it; "cri", a
	// container log in the CRI logging format (containerd, CRI-O); or
	// "docker-json", a container log of Docker's json-file driver
	// (cri-dockerd). The tailer hands on the lines as they are; the agent
	// decodes container logs (pkg/containerlog). A container log's
	// Rotation defaults to RotationKubelet.
	Format string `yaml:"format"`
}

// Line formats (Config.Format).
const (
	FormatAudit      = "audit"
	FormatCRI        = "cri"
	FormatDockerJSON = "docker-json"
)

// Defaults.
const (
	DefaultPath         = "/var/log/kubernetes/audit/audit.log"
	DefaultPollInterval = time.Second
	// DefaultLinger keeps the latency from write to server under 100 ms
	// (75 ms of linger, the rest for the work) while a batch costs one
	// wake-up per 75 ms at most: at 100 events/s, 1 % of a core in make
	// bench's steady runs.
	DefaultLinger       = 75 * time.Millisecond
	DefaultMaxLineBytes = 16 << 20
)

// SetDefaults fills zero fields with their defaults (Path only when
// Paths is empty).
func (c *Config) SetDefaults() {
	if c.Path == "" && len(c.Paths) == 0 {
		c.Path = DefaultPath
	}
	if c.StartAt == "" {
		c.StartAt = StartBeginning
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.Format == "" {
		c.Format = FormatAudit
	}
	if c.Rotation == "" {
		c.Rotation = RotationLumberjack
		if c.Format != FormatAudit {
			c.Rotation = RotationKubelet // a container log: kubelet rotates it
		}
	}
}

// Logs returns the paths of the logs to follow: Paths, or Path.
func (c Config) Logs() []string {
	if len(c.Paths) > 0 {
		return c.Paths
	}
	if c.Path == "" {
		return nil
	}
	return []string{c.Path}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if len(c.Paths) > 0 {
		if c.Path != "" {
			return errors.New("tail.path and tail.paths: set one of them (tail.paths for several logs)")
		}
		seen := make(map[string]bool, len(c.Paths))
		for i, p := range c.Paths {
			one := c
			one.Path, one.Paths = p, nil
			if err := one.Validate(); err != nil {
				return fmt.Errorf("tail.paths[%d]: %w", i, err)
			}
			clean := filepath.Clean(p)
			if seen[clean] {
				return fmt.Errorf("tail.paths[%d]: %s is given twice", i, p)
			}
			seen[clean] = true
		}
		return nil
	}
	switch {
	case c.Path == "":
		return errors.New("tail.path: must not be empty")
	case c.Path == "-":
		return errors.New("tail.path: \"-\" means kube-apiserver writes the audit log to its standard output, which cannot be tailed; set --audit-log-path to a file, " +
			"or follow the container log it goes to: tail.rotation kubelet and tail.path the container's log directory under /var/log/pods")
	case filepath.Base(c.Path) == "." || filepath.Base(c.Path) == string(filepath.Separator):
		return fmt.Errorf("tail.path: %q is not a file name", c.Path)
	}
	if isPattern(c.Path) {
		if err := checkPattern(c.Path); err != nil {
			return fmt.Errorf("tail.path %q: %w", c.Path, err)
		}
		if c.effectiveRotation() != RotationKubelet {
			return fmt.Errorf("tail.path %q: a glob pattern is only for container log directories (tail.rotation %q)", c.Path, RotationKubelet)
		}
		if strings.HasSuffix(c.Path, ".log") {
			return fmt.Errorf("tail.path %q: a glob pattern names container log directories (/var/log/pods/<namespace>_<pod>-*/<container>), not their files", c.Path)
		}
	}
	if c.StartAt != StartBeginning && c.StartAt != StartEnd {
		return fmt.Errorf("tail.start_at: %q: want %q or %q", c.StartAt, StartBeginning, StartEnd)
	}
	if c.PollInterval < 10*time.Millisecond || c.PollInterval > 10*time.Second {
		return fmt.Errorf("tail.poll_interval: %s is out of range (10ms to 10s)", c.PollInterval)
	}
	if c.Linger < 0 || c.Linger > time.Second {
		return fmt.Errorf("tail.linger: %s is out of range (0 to 1s)", c.Linger)
	}
	if c.MaxLineBytes < 64<<10 || c.MaxLineBytes > 1<<30 {
		return fmt.Errorf("tail.max_line_bytes: %d is out of range (65536 to 1073741824)", c.MaxLineBytes)
	}
	switch c.Format {
	case "", FormatAudit, FormatCRI, FormatDockerJSON:
	default:
		return fmt.Errorf("tail.format: %q: want %q, %q or %q", c.Format, FormatAudit, FormatCRI, FormatDockerJSON)
	}
	switch c.Rotation {
	case "", RotationLumberjack, RotationKubelet:
	default:
		return fmt.Errorf("tail.rotation: %q: want %q or %q", c.Rotation, RotationLumberjack, RotationKubelet)
	}
	return nil
}

// effectiveRotation is Rotation as SetDefaults fills it.
func (c Config) effectiveRotation() Rotation {
	if c.Rotation == "" && c.Format != "" && c.Format != FormatAudit {
		return RotationKubelet
	}
	if c.Rotation == "" {
		return RotationLumberjack
	}
	return c.Rotation
}

// isPattern reports whether path has filepath.Match's special characters
// (the backslash escapes, except where it is the separator).
func isPattern(path string) bool {
	if filepath.Separator == '\\' {
		return strings.ContainsAny(path, "*?[")
	}
	return strings.ContainsAny(path, `*?[\`)
}

// checkPattern reports a malformed pattern (filepath.ErrBadPattern), which
// filepath.Match and filepath.Glob only notice when they get to the bad
// element: each element is checked on its own.
func checkPattern(pattern string) error {
	for _, e := range strings.Split(pattern, string(filepath.Separator)) {
		if _, err := filepath.Match(e, ""); err != nil {
			return err
		}
	}
	return nil
}
