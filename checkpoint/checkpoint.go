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
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Version is the newest on-disk format version: 2, several logs' positions.
// A checkpoint of one log is written as version 1, which every release
// reads; both are read.
const Version = 2

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

// state is the JSON document on disk: version 1 holds the one log's
// position in File; version 2 holds several logs' positions in Files, by
// the log's configured path.
type state struct {
	Version int                 `json:"version"`
	Updated time.Time           `json:"updated"`
	File    *Position           `json:"file,omitempty"`
	Files   map[string]Position `json:"files,omitempty"`
}

// Store holds the current positions in memory and writes them to disk:
// one per log, each kept by a Cursor. A store of one log (the Store's own
// methods, or one Cursor) writes the version 1 format, which earlier
// releases read; a store of several writes version 2. Mark is safe for
// concurrent use with the other methods.
type Store struct {
	cfg Config
	log zerolog.Logger

	// What Open found: the generation used (disk), whether it is the
	// previous one, and the previous generation when the current one was
	// used and the previous could be read too (for Durable).
	disk     state
	found    bool
	fromPrev bool
	prev     *state
	v1Given  bool // the version 1 position went to a cursor

	mu      sync.Mutex
	cursors []*Cursor
	def     *Cursor // the Store's own methods' cursor, made on first use
	dirty   bool
	writes  uint64
	errs    uint64

	// marked has a value when Mark moved a position since Run last
	// looked: Run sleeps on it, so an agent with nothing to ship does
	// not wake up to write the same position again.
	marked chan struct{}
}

// Cursor is the position of one log in a Store. Its methods are safe for
// concurrent use.
type Cursor struct {
	s     *Store
	key   string // the log's configured path; "" for the Store's own cursor
	saved Saved

	// Guarded by s.mu. last is the position of the last successful write,
	// durable the one written before it (see Durable); written counts the
	// generations known, those found by Open included.
	pos           Position
	last, durable Position
	written       int
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
	s.disk, s.found, s.fromPrev = st, true, fromPrev
	if !fromPrev {
		if prev, pfound, perr := load(prevPath(cfg.Path)); pfound && perr == nil {
			s.prev = &prev
		}
	}
	return s, nil
}

// Cursors returns one cursor per log, keyed by the log's configured path,
// each at the position the checkpoint holds for it. A version 1
// checkpoint (one log, as every release before several logs wrote it) is
// read as the position of the log whose files it names (the path, or one
// of its rotated backups or copies: same directory, name starting with the
// log's name without its extension), else, when there is one log only, as
// that log's: the checkpoint is upgraded to version 2 at the next write
// when there are several. A log the checkpoint does not know starts as at
// a first start. Call it once, before the Store's own position methods.
func (s *Store) Cursors(paths []string) []*Cursor {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Cursor, len(paths))
	for i, p := range paths {
		out[i] = s.newCursor(p, len(paths) == 1)
	}
	return out
}

// newCursor makes the cursor of key and adds it to the store; only says
// that it is the store's only log. Called with s.mu held.
func (s *Store) newCursor(key string, only bool) *Cursor {
	c := &Cursor{s: s, key: key}
	if s.found {
		cur, ok := s.positionIn(s.disk, key, only, true)
		if ok {
			c.saved = Saved{Found: true, FromPrev: s.fromPrev, Position: cur, SavedAt: s.disk.Updated}
			c.pos, c.last, c.written = cur, cur, 1
			// What a restart may resume from: the current generation, or
			// the previous one, which is older. Known at once when both
			// can be read.
			if s.prev != nil {
				if prev, pok := s.positionIn(*s.prev, key, only, false); pok {
					c.durable, c.written = prev, 2
				}
			}
		}
	}
	s.cursors = append(s.cursors, c)
	return c
}

// positionIn is key's position in st. take marks a version 1 position as
// given, so that one log only gets it.
func (s *Store) positionIn(st state, key string, only, take bool) (Position, bool) {
	if st.Version >= 2 {
		if p, ok := st.Files[key]; ok {
			return p, true
		}
		if key == "" && len(st.Files) == 1 { // the Store's own cursor over a one-log version 2 file
			for _, p := range st.Files {
				return p, true
			}
		}
		return Position{}, false
	}
	var p Position
	if st.File != nil {
		p = *st.File
	}
	if take && s.v1Given {
		return Position{}, false
	}
	if key == "" || only || namesFileOf(p.Path, key) {
		if take {
			s.v1Given = true
		}
		return p, true
	}
	return Position{}, false
}

// namesFileOf reports whether file is the log at path or one of its
// generations: a lumberjack backup (audit-<time>.log[.gz]) or a
// logrotate copy (audit.log.1, audit.log-20261206[.gz]) in its directory.
func namesFileOf(file, path string) bool {
	if file == "" || path == "" || filepath.Dir(file) != filepath.Dir(path) {
		return false
	}
	base := filepath.Base(path)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	f := filepath.Base(file)
	return f == base || strings.HasPrefix(f, stem+"-") || strings.HasPrefix(f, base+".") || strings.HasPrefix(f, base+"-")
}

// defCursor is the cursor of the Store's own position methods. Called
// with s.mu held.
func (s *Store) defCursor() *Cursor {
	if s.def == nil {
		if len(s.cursors) > 0 {
			s.def = s.cursors[0]
		} else {
			s.def = s.newCursor("", true)
		}
	}
	return s.def
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
// check). The error names the file that cannot be used. With several
// logs (version 2), Position is the first log's in the order of their
// paths; ReadAll gives each.
func Read(path string) (Saved, error) {
	all, err := ReadAll(path)
	if err != nil || len(all) == 0 {
		return Saved{Found: err != nil}, err
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return all[keys[0]], nil
}

// ReadAll is Read for every log of the checkpoint, by the log's path ("" for
// the one log of a version 1 checkpoint). It is empty when there is none.
func ReadAll(path string) (map[string]Saved, error) {
	st, found, fromPrev, _, err := loadGenerations(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	if !found {
		return nil, nil
	}
	out := map[string]Saved{}
	if st.Version >= 2 {
		for k, p := range st.Files {
			out[k] = Saved{Found: true, FromPrev: fromPrev, Position: p, SavedAt: st.Updated}
		}
		return out, nil
	}
	out[""] = savedFrom(st, fromPrev)
	return out, nil
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
	matches, _ := filepath.Glob(path + ".tmp-*")
	for _, m := range matches {
		if err := os.Remove(m); err == nil {
			log.Debug().Str("file", m).Msg("removed temporary checkpoint file left by a crash")
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
	switch st.Version {
	case 1:
		if st.Files != nil {
			return st, errors.New("version 1 with \"files\", a version 2 key")
		}
	case 2:
		if st.File != nil {
			return st, errors.New("version 2 with \"file\", a version 1 key")
		}
	default:
		return st, fmt.Errorf("version %d is not supported (want 1 or %d)", st.Version, Version)
	}
	check := func(p Position) error {
		if p.Offset < 0 {
			return fmt.Errorf("negative offset %d", p.Offset)
		}
		if p.Offset > 0 && p.Fingerprint == "" {
			return errors.New("offset without a file fingerprint")
		}
		return nil
	}
	if st.File != nil {
		if err := check(*st.File); err != nil {
			return st, err
		}
	}
	for k, p := range st.Files {
		if err := check(p); err != nil {
			return st, fmt.Errorf("%s: %w", k, err)
		}
	}
	return st, nil
}

// Saved returns what Open found on disk for the Store's own log: Found is
// false on a first start; Position is zero when the checkpoint names no
// file (an earlier run started but handled no line; SavedAt says when).
func (s *Store) Saved() Saved {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.defCursor().saved
}

// Init is the Store's own cursor's Init.
func (s *Store) Init(p Position) error { return s.own().Init(p) }

// Mark is the Store's own cursor's Mark.
func (s *Store) Mark(p Position) { s.own().Mark(p) }

// Position is the Store's own cursor's Position.
func (s *Store) Position() Position { return s.own().Position() }

// Durable is the Store's own cursor's Durable.
func (s *Store) Durable() Position { return s.own().Durable() }

func (s *Store) own() *Cursor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.defCursor()
}

// Saved returns what Open found on disk for this log: Found is false when
// the checkpoint does not know it (a first start, or a log added since);
// Position is zero when the checkpoint names no file for it (an earlier
// run started but handled no line; SavedAt says when).
func (c *Cursor) Saved() Saved { return c.saved }

// Init writes the checkpoint at start-up when Open found none for this
// log: with p, the position the agent starts from, or with no file when p
// is zero. Either way the next start knows an earlier run began at this
// time, so a crash before the first periodic write cannot make the restart
// skip a rotated file.
func (c *Cursor) Init(p Position) error {
	c.s.mu.Lock()
	c.pos, c.s.dirty = p, true
	c.saved.Found = true // written below: known from now on
	c.s.mu.Unlock()
	return c.s.Flush()
}

// Mark records p as the log's new position in memory. It is written to
// disk by the next Flush. Callers mark positions in the order of the log.
func (c *Cursor) Mark(p Position) {
	s := c.s
	s.mu.Lock()
	moved := p != c.pos
	if moved {
		c.pos = p
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
func (c *Cursor) Position() Position {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.pos
}

// Durable returns the oldest position a restart may resume from: the one
// written before the last write, which the previous generation (<path>.prev)
// holds and which Open falls back to when the current one cannot be read.
// Nothing before it will ever be read again. At Open it is what the
// previous generation holds; it is zero while unknown (no previous
// generation could be read, and the Store has not written twice since):
// a caller that deletes what is behind it (the webhook spool) deletes
// nothing then.
func (c *Cursor) Durable() Position {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.written < 2 {
		return Position{}
	}
	return c.durable
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

// Flush writes the marked positions to disk if one changed since the last
// write.
func (s *Store) Flush() error {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	s.dirty = false
	st := state{Version: 1, Updated: time.Now().UTC()}
	pos := make([]Position, len(s.cursors))
	for i, c := range s.cursors {
		pos[i] = c.pos
	}
	if len(s.cursors) == 1 {
		if p := pos[0]; !p.IsZero() {
			st.File = &p
		}
	} else {
		st.Version, st.Files = Version, make(map[string]Position, len(s.cursors))
		for i, c := range s.cursors {
			st.Files[c.key] = pos[i]
		}
	}
	s.mu.Unlock()

	err := writeAtomic(s.cfg.Path, st)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs++
		s.dirty = true // try again next time
		return err
	}
	s.writes++
	for i, c := range s.cursors {
		c.durable, c.last = c.last, pos[i]
		c.written++
	}
	return nil
}

// Run writes the marked positions to disk until ctx ends, then returns
// ctx.Err() (Close writes the last positions). It writes at most once per
// FlushInterval, and only after a position moved: an agent with nothing
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
		// Let the positions move on for FlushInterval: one write for all
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

// Close writes the final positions.
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
