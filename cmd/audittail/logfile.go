package main

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// logOutput is where the agent's log goes: standard error, or a file
// opened for appending that SIGHUP re-opens, so logrotate can move it
// (rotate, then `systemctl reload audittail` or kill -HUP). Writes and
// Reopen are serialised, so no line is split across the two files.
type logOutput struct {
	mu   sync.Mutex
	path string    // "" for standard error
	w    io.Writer // the file, or standard error
	f    *os.File  // nil for standard error
}

// openLogOutput opens path for appending (creating it 0640), or returns
// standard error when path is "".
func openLogOutput(path string, stderr io.Writer) (*logOutput, error) {
	o := &logOutput{path: path, w: stderr}
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

func (o *logOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.w.Write(p)
}

// Reopen opens the log file again by name and closes the old one. On error
// the old file is kept. It does nothing for standard error.
func (o *logOutput) Reopen() error {
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
func (o *logOutput) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f, o.w = nil, io.Discard
	return err
}
