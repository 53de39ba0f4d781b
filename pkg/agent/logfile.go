package agent

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/audittail/audittail/pkg/config"
	"github.com/rs/zerolog"
)

// LogOutput is where the agent's log goes: standard error, or a file
// opened for appending that SIGHUP re-opens, so logrotate can move it
// (rotate, then `systemctl reload audittail` or kill -HUP). Writes and
// Reopen are serialised, so no line is split across the two files.
type LogOutput struct {
	mu   sync.Mutex
	path string    // "" for standard error
	w    io.Writer // the file, or standard error
	f    *os.File  // nil for standard error
}

// OpenLogOutput opens path for appending (creating it 0640), or returns
// stderr when path is "".
func OpenLogOutput(path string, stderr io.Writer) (*LogOutput, error) {
	o := &LogOutput{path: path, w: stderr}
	if path == "" {
		return o, nil
	}
	f, err := openLogFile(path)
	if err != nil {
		return nil, err
	}
	o.w, o.f = f, f
	return o, nil
}

func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return f, nil
}

func (o *LogOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.w.Write(p)
}

// Reopen opens the log file again by name and closes the old one. On error
// the old file is kept. It does nothing for standard error.
func (o *LogOutput) Reopen() error {
	if o.path == "" {
		return nil
	}
	f, err := openLogFile(o.path)
	if err != nil {
		return err
	}
	o.mu.Lock()
	old := o.f
	o.w, o.f = f, f
	o.mu.Unlock()
	return old.Close()
}

// Close closes the log file, if any.
func (o *LogOutput) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f, o.w = nil, io.Discard
	return err
}

// NewLogger returns the agent's logger on w, with the level and format of c.
func NewLogger(c config.Log, w io.Writer) zerolog.Logger {
	lvl, _ := zerolog.ParseLevel(c.Level)
	if c.Format == config.LogConsole {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}
