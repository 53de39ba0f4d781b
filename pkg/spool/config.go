package spool

import (
	"errors"
	"fmt"
	"path/filepath"
)

// Defaults applied by [Config.SetDefaults] to zero fields, and the smallest
// file size [Config.Validate] accepts.
const (
	// DefaultDir sits beside the agent's checkpoint (/var/lib/audittail),
	// on the node's disk or the pod's persistent volume.
	DefaultDir       = "/var/lib/audittail/spool"
	DefaultMaxBytes  = 1 << 30  // 1 GiB
	DefaultFileBytes = 64 << 20 // 64 MiB
	// MinFileBytes holds a webhook batch of kube-apiserver's default size
	// (--audit-webhook-batch-max-size 400 events of a few KiB each) with
	// room to spare, so that a file holds more than one batch.
	MinFileBytes = 1 << 20
)

// Names of the files in the spool directory: the live file the tailer
// follows (lumberjack renames it to audit-<UTC time>.log on rotation), and
// the checkpoint of the spool's reading position.
const (
	LiveName       = "audit.log"
	CheckpointName = "checkpoint.json"
)

// Config is the `spool:` section of the configuration.
type Config struct {
	// Dir holds the spool's files (default DefaultDir). It is created
	// (mode 0700) if missing.
	Dir string `yaml:"dir"`
	// MaxBytes bounds the bytes of all spool files: an Append that would
	// take them past it is refused with ErrFull while the log server has
	// not confirmed everything in the spool. Default 1 GiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// FileBytes is the size past which the live file is rotated: before an
	// append that would take it past FileBytes. A batch larger than
	// FileBytes goes alone into a fresh file. Default 64 MiB, minimum 1 MiB.
	FileBytes int64 `yaml:"file_bytes"`
}

// SetDefaults fills zero fields with their defaults.
func (c *Config) SetDefaults() {
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.FileBytes == 0 {
		c.FileBytes = DefaultFileBytes
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("spool.dir: must not be empty when the webhook receiver is on")
	case c.FileBytes < MinFileBytes:
		return fmt.Errorf("spool.file_bytes: %d is below the minimum %d (1 MiB)", c.FileBytes, MinFileBytes)
	case c.MaxBytes < c.FileBytes:
		return fmt.Errorf("spool.max_bytes: %d is below spool.file_bytes (%d)", c.MaxBytes, c.FileBytes)
	}
	return nil
}

// LivePath is the live file, <Dir>/audit.log: the path the tailer follows.
func (c Config) LivePath() string { return filepath.Join(c.Dir, LiveName) }

// CheckpointPath is <Dir>/checkpoint.json, where the agent keeps the
// spool's reading position. Its name is not one of the spool's files, so
// neither the spool nor the tailer ever takes it for one.
func (c Config) CheckpointPath() string { return filepath.Join(c.Dir, CheckpointName) }
