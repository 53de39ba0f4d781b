// Package checkpoint keeps audittail's durable position in the audit log.
//
// A checkpoint names one file (by device, inode and a fingerprint of its first
// line) and an offset in it. The offset is the byte just after the last line
// whose event the log server is known to have received, or that was skipped on
// purpose after being reported. On restart everything from that offset on is
// read again, so a crash can repeat events but never skip one.
//
// The file on disk is small versioned JSON, mode 0600, replaced atomically:
// written to a temporary file in the same directory and fsynced; the current
// file is renamed to <path>.prev, the new one renamed into place, and the
// directory fsynced. If the current generation is missing or unreadable after
// a crash, the previous one is used. A checkpoint of which no generation can
// be read is an error: the agent stops instead of guessing where to start.
package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Version is the on-disk format version written by this package.
const Version = 1

// Position is how far one file has been handled.
//
// Dev and Inode identify the file while it is a plain file; Fingerprint (hex
// SHA-256 of the first FingerprintLen bytes of the file's content, which is its
// first line or its first 64 KiB) identifies it across compression, where the
// inode changes, and guards against inode reuse. Offset counts bytes of the
// file's (decompressed) content: every byte before it has been handled.
type Position struct {
	Path           string `json:"path"`
	Dev            uint64 `json:"dev"`
	Inode          uint64 `json:"inode"`
	Fingerprint    string `json:"fingerprint,omitempty"`
	FingerprintLen int    `json:"fingerprint_len,omitempty"`
	Offset         int64  `json:"offset"`
	// Size is the file's (decompressed) size when the position was taken: if
	// the file is gone at the next start, at least Size-Offset bytes were lost.
	Size int64 `json:"size,omitempty"`
}

// IsZero reports whether p names no file.
func (p Position) IsZero() bool { return p == Position{} }

// Config is the `checkpoint:` section of the configuration.
type Config struct {
	// Path of the checkpoint file. Its directory is created (mode 0700) if missing.
	Path string `yaml:"path"`
	// FlushInterval is how often a moved position is written to disk.
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// Defaults.
const (
	DefaultPath          = "/var/lib/audittail/checkpoint.json"
	DefaultFlushInterval = time.Second
)

// SetDefaults fills zero fields with their defaults.
func (c *Config) SetDefaults() {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if c.Path == "" {
		return errors.New("checkpoint.path: must not be empty")
	}
	if c.FlushInterval < 10*time.Millisecond || c.FlushInterval > time.Minute {
		return fmt.Errorf("checkpoint.flush_interval: %s is out of range (10ms to 1m)", c.FlushInterval)
	}
	return nil
}

// state is the JSON document on disk.
type state struct {
	Version int       `json:"version"`
	Updated time.Time `json:"updated"`
	File    *Position `json:"file,omitempty"`
}

// Store holds the current position in memory and writes it to disk.
// Mark is safe for concurrent use with the other methods.
type Store struct {
	cfg   Config
	log   zerolog.Logger
	saved Saved // what Open found

	mu     sync.Mutex
	pos    Position
	dirty  bool
	writes uint64
	errs   uint64
	// last is the position of the last successful write, durable the one
	// written before it (see Durable); written counts the generations
	// known, those found by Open included.
	last, durable Position
	written       int

	// marked has a value when Mark moved the position since Run last
	// looked: Run sleeps on it, so an agent with nothing to ship does
	// not wake up to write the same position again.
	marked chan struct{}
}

// ErrCorrupt is wrapped by Open when the checkpoint file exists but cannot be used.
var ErrCorrupt = errors.New("checkpoint: unreadable")

// Open loads the checkpoint at cfg.Path. A missing file is not an error (the
// store starts empty). When the file cannot be read or decoded (a crash in the
// middle of a write, a zero-length file after a power cut), the previous
// generation, cfg.Path + ".prev", is used instead, with a warning. When
// neither can be used, the error wraps ErrCorrupt and says how to recover.
func Open(cfg Config, log zerolog.Logger) (*Store, error) {
	s := &Store{cfg: cfg, log: log, marked: make(chan struct{}, 1)}
	dir := filepath.Dir(cfg.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create checkpoint directory %s: %w", dir, err)
	}
	removeTemps(cfg.Path, log)
	st, found, fromPrev, curErr, err := loadGenerations(cfg.Path)
	if err != nil {
		p := cfg.Path
		return nil, fmt.Errorf("%w: %s: %v; to recover, move both generations aside (mv %s %s.bad; mv %s.prev %s.prev.bad) "+
			"and restart: the live audit log is then read from --start-at (default: beginning), "+
			"which may send events twice but skips none of it", ErrCorrupt, p, err, p, p, p, p)
	}
	if !found {
		return s, nil // a first start
	}
	if fromPrev {
		ev := log.Warn().Str("file", prevPath(cfg.Path))
		if curErr != nil {
			ev = ev.AnErr("current_error", curErr)
		}
		ev.Msg("the checkpoint's current generation is missing or unreadable (crash while writing it?); using the previous one: a few events may be sent twice")
	}
	s.saved = savedFrom(st, fromPrev)
	s.pos = s.saved.Position
	// What a restart may resume from: the current generation, or the
	// previous one, which is older. Known at once when both can be read.
	if !fromPrev {
		if prev, found, err := load(prevPath(cfg.Path)); found && err == nil {
			s.last, s.durable, s.written = s.saved.Position, savedFrom(prev, true).Position, 2
		}
	} else {
		s.last, s.written = s.saved.Position, 1 // the current one, when written next, is the only other
	}
	return s, nil
}

func prevPath(path string) string { return path + ".prev" }

// Saved is a checkpoint as found on disk (by Open or Read).
type Saved struct {
	Found    bool      // a generation exists
	FromPrev bool      // the current generation is missing or unreadable; this is the previous one
	Position Position  // zero when the checkpoint names no file yet
	SavedAt  time.Time // when it was written
}

// Read loads the checkpoint at path the way Open does (falling back to the
// previous generation), but changes nothing on disk: no directory is
// created, no temporary file removed. It is for inspection (audittail
// check). The error names the file that cannot be used.
func Read(path string) (Saved, error) {
	st, found, fromPrev, _, err := loadGenerations(path)
	if err != nil {
		return Saved{Found: true}, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	if !found {
		return Saved{}, nil
	}
	return savedFrom(st, fromPrev), nil
}

// loadGenerations reads the current generation at path, or the previous
// one when the current is missing or unusable (fromPrev, with curErr the
// current one's problem, nil if it was missing). found is false when
// neither exists; err is set when none can be used.
func loadGenerations(path string) (st state, found, fromPrev bool, curErr, err error) {
	st, found, curErr = load(path)
	if curErr == nil && found {
		return st, true, false, nil, nil
	}
	prev, pfound, perr := load(prevPath(path))
	switch {
	case pfound && perr == nil:
		return prev, true, true, curErr, nil
	case !found && !pfound:
		return state{}, false, false, nil, nil
	case curErr == nil: // the current generation is missing and the previous one unreadable
		return state{}, true, false, nil, perr
	}
	return state{}, true, false, curErr, curErr
}

func savedFrom(st state, prev bool) Saved {
	s := Saved{Found: true, FromPrev: prev, SavedAt: st.Updated}
	if st.File != nil {
		s.Position = *st.File
	}
	return s
}

// load reads and decodes one generation; found is false when it does not exist.
func load(path string) (st state, found bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return st, false, nil
	case err != nil:
		return st, true, fmt.Errorf("read %s: %w", path, err)
	}
	st, err = decode(b)
	return st, true, err
}

// removeTemps deletes temporary files left by a crash during a write.
func removeTemps(path string, log zerolog.Logger) {
	tmps, _ := filepath.Glob(path + ".tmp-*")
	for _, t := range tmps {
		if err := os.Remove(t); err == nil {
			log.Debug().Str("file", t).Msg("removed a temporary checkpoint file left by a crash")
		}
	}
}

func decode(b []byte) (state, error) {
	var st state
	if len(b) == 0 {
		return st, errors.New("file is empty")
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode JSON: %w", err)
	}
	if st.Version != Version {
		return st, fmt.Errorf("version %d is not supported (want %d)", st.Version, Version)
	}
	if p := st.File; p != nil {
		if p.Offset < 0 {
			return st, fmt.Errorf("negative offset %d", p.Offset)
		}
		if p.Offset > 0 && p.Fingerprint == "" {
			return st, errors.New("offset without a file fingerprint")
		}
	}
	return st, nil
}

// Saved returns what Open found on disk: Found is false on a first start;
// Position is zero when the checkpoint names no file (an earlier run
// started but handled no line; SavedAt says when).
func (s *Store) Saved() Saved { return s.saved }

// Init writes the checkpoint at start-up when Open found none: with p, the
// position the agent starts from, or with no file when p is zero. Either way
// the next start knows an earlier run began at this time, so a crash before
// the first periodic write cannot make the restart skip a rotated file.
func (s *Store) Init(p Position) error {
	s.mu.Lock()
	s.pos, s.dirty = p, true
	s.mu.Unlock()
	return s.Flush()
}

// Mark records p as the new position in memory. It is written to disk by the
// next Flush. Callers mark positions in the order of the file.
func (s *Store) Mark(p Position) {
	s.mu.Lock()
	moved := p != s.pos
	if moved {
		s.pos = p
		s.dirty = true
	}
	s.mu.Unlock()
	if moved {
		select {
		case s.marked <- struct{}{}:
		default:
		}
	}
}

// Position returns the position last marked (or loaded).
func (s *Store) Position() Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos
}

// Stats counts checkpoint writes and failed writes.
type Stats struct {
	Writes, Errors uint64
}

// Stats returns a snapshot of the counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Writes: s.writes, Errors: s.errs}
}

// Flush writes the marked position to disk if it changed since the last write.
func (s *Store) Flush() error {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	p := s.pos
	s.dirty = false
	s.mu.Unlock()

	st := state{Version: Version, Updated: time.Now().UTC()}
	if !p.IsZero() {
		st.File = &p
	}
	err := writeAtomic(s.cfg.Path, st)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs++
		if s.pos == p {
			s.dirty = true // try again next time
		}
		return err
	}
	s.writes++
	s.durable, s.last = s.last, p
	s.written++
	return nil
}

// Durable returns the oldest position a restart may resume from: the one
// written before the last write, which the previous generation (<path>.prev)
// holds and which Open falls back to when the current one cannot be read.
// Nothing before it will ever be read again. At Open it is what the
// previous generation holds; it is zero while unknown (no previous
// generation could be read, and this Store has not written twice since):
// a caller that deletes what is behind it (the webhook spool) deletes
// nothing then.
func (s *Store) Durable() Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written < 2 {
		return Position{}
	}
	return s.durable
}

// Run writes the marked position to disk until ctx ends, then returns
// ctx.Err() (Close writes the last position). It writes at most once per
// FlushInterval, and only after the position moved: an agent with nothing
// to ship does not wake up. Write errors are logged (once per distinct
// error) and retried FlushInterval later.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTimer(s.cfg.FlushInterval)
	t.Stop()
	defer t.Stop()
	var last string
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.marked:
		}
		// Let the position move on for FlushInterval: one write for all
		// the marks of that time.
		t.Reset(s.cfg.FlushInterval)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := s.Flush(); err != nil {
			if err.Error() != last {
				s.log.Error().Err(err).Msg("checkpoint write failed; will retry (is the disk full or read-only?)")
				last = err.Error()
			}
			select { // try again after FlushInterval
			case s.marked <- struct{}{}:
			default:
			}
		} else if last != "" {
			s.log.Info().Msg("checkpoint write recovered")
			last = ""
		}
	}
}

// Close writes the final position.
func (s *Store) Close() error { return s.Flush() }

// writeAtomic replaces path with st: temp file, fsync, rename, fsync of the directory.
func writeAtomic(path string, st state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	cleanup := func() { tmp.Close(); os.Remove(tmp.Name()) }
	if err := tmp.Chmod(0o600); err != nil {
		cleanup()
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		cleanup()
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		cleanup()
		return fmt.Errorf("sync checkpoint %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	// Keep the current generation as .prev, then put the new one in place.
	// A crash between the two renames leaves only .prev, which Open uses.
	if err := os.Rename(path, prevPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		os.Remove(tmp.Name())
		return fmt.Errorf("keep previous checkpoint %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("replace checkpoint %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync checkpoint directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync checkpoint directory %s: %w", dir, err)
	}
	return nil
}
