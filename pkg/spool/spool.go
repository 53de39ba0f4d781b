// Package spool is the webhook receiver's durable buffer: the receiver
// appends the audit events kube-apiserver POSTs to it, as JSON lines,
// before it answers, and audittail's tailer then reads them from it exactly
// as it reads kube-apiserver's own audit log, with a checkpoint of its own.
//
// The spool guarantees:
//
//   - a batch is durable when Append returns nil: it was written with one
//     write and flushed with fdatasync (fsync where there is none), so a
//     receiver that answers 200 only then never acknowledges an event that
//     a power cut can take away;
//   - a batch is all or nothing, and batches never interleave: appends are
//     serialized; the space a batch needs is reserved (fallocate) before
//     any byte of it is written, so a full disk refuses it whole; a write
//     or sync that fails is truncated back to the size before it. If even
//     that fails, the spool refuses every later Append (Stats.Broken)
//     rather than append after a torn batch. A crash in the middle of a
//     write leaves an unterminated last line, which Open cuts off: that
//     batch was never answered 200, and its sender sends it again;
//   - a crash after a batch was written but before the answer reached the
//     sender makes the sender send it again: events may be spooled (and
//     shipped) twice, never lost;
//   - the files are laid out as lumberjack (gopkg.in/natefinch/lumberjack.v2,
//     which kube-apiserver uses for its audit log) lays them out, so the
//     tailer follows them with the rotation code it uses for that log: the
//     live file <Dir>/audit.log is closed, renamed to
//     <Dir>/audit-<UTC time>.log (time format 2006-01-02T15-04-05.000,
//     strictly increasing from one backup to the next, even when the clock
//     goes back) and a new audit.log (mode 0600) is created; the directory
//     is then fsynced, so that the names survive a power cut. Backups are
//     never compressed;
//   - a file is deleted only once no restart can read it again: a backup
//     rotated before the file the checkpoint's durable position names
//     (checkpoint.Store.Durable). Not the newest position (Position): the
//     checkpoint keeps its previous generation and falls back to it when a
//     crash leaves the current one unreadable, so a restart may resume from
//     the position written before the last, and the file that one names
//     must still be there, with every newer one. The live file is never
//     deleted;
//   - the spool files hold at most MaxBytes: an Append that would take them
//     past it returns an error wrapping ErrFull, and writes nothing, for as
//     long as the log server has not confirmed every byte in the spool (the
//     receiver answers 429 and kube-apiserver retries). Once it has, a batch
//     is accepted whatever the size: what the spool holds then is only
//     waiting to be pruned, which a newer line makes possible, and refusing
//     would wedge the spool for good when its live file alone reaches
//     MaxBytes.
package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/rs/zerolog"
)

// positions is what the spool needs of the spool's checkpoint store; a
// *checkpoint.Store satisfies it.
type positions interface {
	// Position is the newest position whose events the log server
	// confirmed (in memory).
	Position() checkpoint.Position
	// Durable is the oldest position a restart may resume from: nothing
	// before it is ever read again. Zero when unknown: delete nothing.
	Durable() checkpoint.Position
}

var _ positions = (*checkpoint.Store)(nil)

// ErrFull is wrapped by Append when the spool holds MaxBytes or more that
// the log server has not confirmed (it has been unreachable for long): the
// receiver answers 429 with Retry-After.
var ErrFull = errors.New("spool: full")

// errBroken is wrapped by every Append after one whose failed write could
// not be undone.
var errBroken = errors.New("spool: broken")

// backupTimeFormat is lumberjack's (v2) time stamp in backup names, in UTC.
const backupTimeFormat = "2006-01-02T15-04-05.000"

// pruneInterval is how often Run looks for files to delete.
const pruneInterval = time.Second

// Stats are counters of the spool's work and its state now.
type Stats struct {
	Bytes         int64  // bytes in the spool files now
	Files         int    // spool files now: the live file and its backups
	Appends       uint64 // batches appended
	AppendedBytes uint64 // their bytes
	RefusedFull   uint64 // appends refused with ErrFull
	Errors        uint64 // appends that failed for another reason: disk full, I/O error, broken spool, invalid data
	RemovedFiles  uint64 // backups deleted once read
	RemovedBytes  uint64 // their bytes
	Rotations     uint64 // live files rotated to a backup
	Broken        bool   // a failed append could not be undone: every Append fails until a restart
	// Full is set when an Append is refused with ErrFull, and cleared when
	// one is accepted or pruning frees space.
	Full bool
	// OldestUnshipped is when the oldest batch the log server has not
	// confirmed was appended (for what was in the spool at Open, the
	// modification time of the oldest file holding some of it); zero when
	// everything is confirmed.
	OldestUnshipped time.Time
}

// generation is one spool file: the live file, or a backup.
type generation struct {
	seq  uint64    // order of creation: a higher seq is a newer file
	path string    // where it is now
	ts   time.Time // rotation time in its backup name; zero while it is live
	key  fileKey
	size int64
}

// Spool is the webhook receiver's durable buffer. Append, Stats and Close
// are safe for concurrent use; Run runs on one goroutine.
type Spool struct {
	cfg  Config
	pos  positions
	log  zerolog.Logger
	live string
	kick chan struct{} // a rotation asks Run to prune now

	// The test seams of the append path: (*os.File).Write, datasync and
	// reserve in production.
	write   func(f *os.File, b []byte) (int, error)
	sync    func(f *os.File) error
	reserve func(f *os.File, off, n int64) error

	// mu serializes appends and rotations and guards what they use.
	mu       sync.Mutex
	f        *os.File // the live file, opened for appending; nil after a failed rotation, or Close
	liveSize int64
	lastTS   time.Time // the newest backup name's time
	nextSeq  uint64
	broken   error
	closed   bool

	// smu guards what Stats and Run read. It is never held during I/O, so
	// Stats never waits for the disk.
	smu   sync.Mutex
	gens  []generation // oldest first; the last one is live while its ts is zero
	total int64
	queue unshipped
	stats Stats // the counters; Bytes, Files, Broken and OldestUnshipped are filled by Stats

	// Run's own: the Durable position whose fingerprint was checked last,
	// and whether removals wait for the directory to be fsynced.
	verified struct {
		key fileKey
		fp  string
		n   int
	}
	dirDirty bool
}

// Open opens the spool in cfg.Dir, creating the directory (mode 0700) and
// the live file (mode 0600) if missing. It deletes nothing. When the live
// file ends in an unterminated line (a crash tore the last append), it cuts
// that line off and logs a warning: the tailer only consumes complete lines,
// and the receiver never answered 200 for that batch.
//
// pos is the spool's checkpoint store. Open takes cfg as given (the caller
// validated it) but refuses an empty Dir, sizes that are not positive, and
// a Dir that is not a directory.
func Open(cfg Config, pos positions, log zerolog.Logger) (*Spool, error) {
	switch {
	case cfg.Dir == "":
		return nil, errors.New("open spool: no directory given")
	case cfg.FileBytes <= 0 || cfg.MaxBytes <= 0:
		return nil, fmt.Errorf("open spool %s: file_bytes (%d) and max_bytes (%d) must be positive", cfg.Dir, cfg.FileBytes, cfg.MaxBytes)
	case pos == nil:
		return nil, fmt.Errorf("open spool %s: no checkpoint store given", cfg.Dir)
	}
	if err := makeDir(cfg.Dir); err != nil {
		return nil, err
	}
	s := &Spool{
		cfg:     cfg,
		pos:     pos,
		log:     log,
		live:    cfg.LivePath(),
		kick:    make(chan struct{}, 1),
		write:   (*os.File).Write,
		sync:    datasync,
		reserve: reserve,
	}
	backups, err := s.listBackups()
	if err != nil {
		return nil, err
	}
	mtimes := make([]time.Time, 0, len(backups)+1)
	for _, b := range backups {
		b.gen.seq = s.nextSeq
		s.nextSeq++
		s.gens = append(s.gens, b.gen)
		s.total += b.gen.size
		s.lastTS = b.gen.ts
		mtimes = append(mtimes, b.mtime)
	}
	fi, err := s.openLive()
	if err != nil {
		return nil, err
	}
	mtimes = append(mtimes, fi.ModTime())
	s.seedQueue(pos.Position(), mtimes)
	log.Info().Str("dir", cfg.Dir).Int("files", len(s.gens)).Int64("bytes", s.total).Msg("spool opened")
	return s, nil
}

// makeDir creates dir (mode 0700) and fsyncs its parent if it is missing,
// and checks that it is a directory.
func makeDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create spool directory %s: %w", dir, err)
		}
		if err := syncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return fmt.Errorf("create spool directory %s: %w", dir, err)
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("open spool directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("open spool directory %s: not a directory", dir)
	}
	return nil
}

// foundBackup is a backup listed by Open.
type foundBackup struct {
	gen   generation
	mtime time.Time
}

// listBackups returns the plain backups of the live file in the directory
// (audit-<time>.log, regular files), oldest first.
func (s *Spool) listBackups() ([]foundBackup, error) {
	ents, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("list spool directory %s: %w", s.cfg.Dir, err)
	}
	var out []foundBackup
	for _, e := range ents { // sorted by name, which sorts by time
		ts, ok := parseBackupName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(s.cfg.Dir, e.Name())
		fi, err := os.Lstat(path)
		if err != nil {
			return nil, fmt.Errorf("stat spool file %s: %w", path, err)
		}
		out = append(out, foundBackup{
			gen:   generation{path: path, ts: ts, key: keyOf(fi), size: fi.Size()},
			mtime: fi.ModTime(),
		})
	}
	return out, nil
}

// backupName is the base name of the backup rotated at ts.
func backupName(ts time.Time) string {
	ext := filepath.Ext(LiveName)
	return strings.TrimSuffix(LiveName, ext) + "-" + ts.UTC().Format(backupTimeFormat) + ext
}

// parseBackupName returns the rotation time in a backup's base name.
func parseBackupName(base string) (time.Time, bool) {
	ext := filepath.Ext(LiveName)
	prefix := strings.TrimSuffix(LiveName, ext) + "-"
	if !strings.HasPrefix(base, prefix) || !strings.HasSuffix(base, ext) || len(base) < len(prefix)+len(ext) {
		return time.Time{}, false
	}
	ts, err := time.ParseInLocation(backupTimeFormat, base[len(prefix):len(base)-len(ext)], time.UTC)
	return ts, err == nil
}

// openLive opens the live file for appending, creating it if missing, cuts
// a torn last line off, fsyncs the directory and makes it the live
// generation. It returns the file's stat from before any cut.
func (s *Spool) openLive() (fs.FileInfo, error) {
	if fi, err := os.Lstat(s.live); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("open spool file %s: not a regular file (%s)", s.live, fi.Mode().Type())
	}
	f, err := os.OpenFile(s.live, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open spool file %s: %w", s.live, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat spool file %s: %w", s.live, err)
	}
	size, err := s.cutTornLine(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := syncDir(s.cfg.Dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("create spool file %s: %w", s.live, err)
	}
	key := keyOf(fi)
	s.f, s.liveSize = f, size

	s.smu.Lock()
	defer s.smu.Unlock()
	if n := len(s.gens); n > 0 && s.gens[n-1].ts.IsZero() {
		if s.gens[n-1].key == key { // opened again after a failed rotation
			s.total += size - s.gens[n-1].size
			s.gens[n-1].size = size
			return fi, nil
		}
		// Not renamed by the spool, yet no longer at the live path.
		s.log.Warn().Str("file", s.live).Msg("the live spool file was replaced by something other than the spool; its bytes are no longer counted")
		s.total -= s.gens[n-1].size
		s.gens = s.gens[:n-1]
	}
	s.gens = append(s.gens, generation{seq: s.nextSeq, path: s.live, key: key, size: size})
	s.nextSeq++
	s.total += size
	return fi, nil
}

// cutTornLine truncates f, of size bytes, to just after its last newline
// (0 if none), and returns the new size.
func (s *Spool) cutTornLine(f *os.File, size int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	r, err := os.Open(s.live)
	if err != nil {
		return 0, fmt.Errorf("check the end of spool file %s: %w", s.live, err)
	}
	defer r.Close()
	end, err := lastLineEnd(r, size)
	if err != nil {
		return 0, fmt.Errorf("check the end of spool file %s: %w", s.live, err)
	}
	if end == size {
		return size, nil
	}
	if err := f.Truncate(end); err != nil {
		return 0, fmt.Errorf("cut the torn last line of spool file %s: %w", s.live, err)
	}
	if err := s.sync(f); err != nil {
		return 0, fmt.Errorf("cut the torn last line of spool file %s: %w", s.live, err)
	}
	s.log.Warn().Str("file", s.live).Int64("cut_bytes", size-end).Int64("size", end).
		Msg("the spool's live file ended in an unterminated line (a crash in the middle of an append); cut it off: " +
			"that batch was never acknowledged, and its sender sends it again")
	return end, nil
}

// lastLineEnd returns the offset just after the last newline in the first
// size bytes of r, or 0.
func lastLineEnd(r io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if _, err := r.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// syncDir fsyncs the directory dir, so that the names created, renamed or
// removed in it survive a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Append writes data, one or more complete JSON lines each ending with a
// newline, to the live file, rotating it first if data would take it past
// FileBytes. When Append returns nil, data is on the disk (fdatasync'd).
// Otherwise the error wraps ErrFull when the spool holds too much the log
// server has not confirmed, and otherwise says what failed (a full disk,
// an I/O error, a broken spool): either way the sender is to retry later.
// None of data is in the spool then, except when this failure broke the
// spool (the truncation back failed too): the part written stays, and is
// either whole lines, which the retry duplicates, or a torn line that no
// reader consumes and the next Open cuts. Empty data, or data not ending
// with a newline, is a programming error.
func (s *Spool) Append(data []byte) error {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return s.failed(fmt.Errorf("spool append: %d bytes that do not end with a newline: want complete lines", len(data)))
	}
	confirmed := s.pos.Position()
	n := int64(len(data))

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.broken != nil:
		return s.failed(s.broken)
	case s.closed:
		return s.failed(errors.New("spool append: the spool is closed"))
	}
	if s.f == nil { // a rotation failed after the rename
		if _, err := s.openLive(); err != nil {
			return s.failed(err)
		}
	}
	if err := s.checkRoom(n, confirmed); err != nil {
		return err
	}
	if s.liveSize > 0 && s.liveSize+n > s.cfg.FileBytes {
		if err := s.rotate(); err != nil {
			return s.failed(err)
		}
	}

	before := s.liveSize
	if err := s.reserve(s.f, before, n); err != nil {
		return s.failed(fmt.Errorf("spool append: reserve %d bytes in %s (is the disk full?): %w", n, s.live, err))
	}
	op := "write"
	w, err := s.write(s.f, data)
	if err == nil && w != len(data) {
		err = io.ErrShortWrite
	}
	if err == nil {
		op = "fdatasync"
		err = s.sync(s.f)
	}
	if err != nil {
		if uerr := s.undo(before); uerr != nil {
			s.broken = fmt.Errorf("%w: an append to %s failed (%v) and truncating the file back to %d bytes failed too (%v): "+
				"every append is refused until the agent restarts, which cuts a torn last line off", errBroken, s.live, err, before, uerr)
			s.smu.Lock()
			s.stats.Broken = true
			s.smu.Unlock()
			s.log.Error().Err(s.broken).Msg("spool broken")
			return s.failed(s.broken)
		}
		return s.failed(fmt.Errorf("spool append: %s %d bytes to %s: %w (truncated back to %d bytes)", op, n, s.live, err, before))
	}
	s.liveSize += n

	now := time.Now()
	s.smu.Lock()
	defer s.smu.Unlock()
	live := &s.gens[len(s.gens)-1]
	live.size = s.liveSize
	s.total += n
	s.stats.Appends++
	s.stats.Full = false
	s.stats.AppendedBytes += uint64(n)
	s.queue.push(entry{seq: live.seq, end: s.liveSize, at: now})
	return nil
}

// failed counts err, which an Append returns, and returns it.
func (s *Spool) failed(err error) error {
	s.smu.Lock()
	s.stats.Errors++
	s.smu.Unlock()
	return err
}

// checkRoom returns an error wrapping ErrFull when n more bytes would take
// the spool past MaxBytes while it holds bytes the log server has not
// confirmed. s.mu is held.
func (s *Spool) checkRoom(n int64, confirmed checkpoint.Position) error {
	s.smu.Lock()
	defer s.smu.Unlock()
	if s.total == 0 || s.total+n <= s.cfg.MaxBytes {
		return nil
	}
	live := s.gens[len(s.gens)-1]
	if (fileKey{confirmed.Dev, confirmed.Inode}) == live.key && confirmed.Offset >= s.liveSize {
		return nil // everything is confirmed: the rest only waits to be pruned
	}
	s.stats.RefusedFull++
	s.stats.Full = true
	return fmt.Errorf("%w: it holds %d bytes, and %d more would take it past spool.max_bytes (%d) "+
		"before the log server confirmed what it holds", ErrFull, s.total, n, s.cfg.MaxBytes)
}

// undo truncates the live file back to size after a failed write or sync,
// and flushes the truncation.
func (s *Spool) undo(size int64) error {
	if err := s.f.Truncate(size); err != nil {
		return err
	}
	return s.sync(s.f)
}

// rotate does what lumberjack does: it closes the live file, renames it to
// audit-<UTC time>.log, creates a new audit.log, and fsyncs the directory
// (in openLive). The time is strictly later than the last backup's, so the
// tailer reads the backups in the order they were written. s.mu is held.
func (s *Spool) rotate() error {
	f := s.f
	s.f = nil
	if err := f.Close(); err != nil {
		// Every append to it was fdatasync'd: nothing is lost.
		s.log.Warn().Err(err).Str("file", s.live).Msg("closing the live spool file before rotating it failed")
	}
	ts := time.Now().UTC().Truncate(time.Millisecond)
	if !ts.After(s.lastTS) {
		ts = s.lastTS.Add(time.Millisecond)
	}
	name := filepath.Join(s.cfg.Dir, backupName(ts))
	for {
		if _, err := os.Lstat(name); err != nil {
			break // absent (or unknowable: the rename then tells)
		}
		ts = ts.Add(time.Millisecond)
		name = filepath.Join(s.cfg.Dir, backupName(ts))
	}
	if err := os.Rename(s.live, name); err != nil {
		return fmt.Errorf("rotate spool file %s to %s: %w", s.live, name, err)
	}
	s.lastTS = ts
	s.smu.Lock()
	live := &s.gens[len(s.gens)-1]
	live.path, live.ts = name, ts
	s.stats.Rotations++
	s.smu.Unlock()
	s.log.Debug().Str("file", name).Msg("spool file rotated")
	if _, err := s.openLive(); err != nil {
		return fmt.Errorf("rotate spool file %s: %w", s.live, err)
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// Stats returns a snapshot of the counters and the state. It never waits
// for the disk.
func (s *Spool) Stats() Stats {
	p := s.pos.Position()
	s.smu.Lock()
	defer s.smu.Unlock()
	s.trim(p)
	st := s.stats
	st.Bytes, st.Files = s.total, len(s.gens)
	st.OldestUnshipped = s.queue.oldest()
	return st
}

// Close closes the live file. Append fails after it; Run, if still
// running, goes on deleting what has been read.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.f == nil {
		return nil
	}
	f := s.f
	s.f = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("close spool file %s: %w", s.live, err)
	}
	return nil
}

// Run deletes the backups no restart can read again (see the package
// documentation), at once, then every second and right after each
// rotation, until ctx
// ends; it then returns ctx.Err(). A failure to delete is logged (once for
// each distinct error) and tried again a second later.
func (s *Spool) Run(ctx context.Context) error {
	t := time.NewTicker(pruneInterval)
	defer t.Stop()
	var last string
	for first := true; ; first = false {
		if !first { // at once at start: the checkpoint's durable position is known at Open
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			case <-s.kick:
			}
		}
		err := s.prune()
		p := s.pos.Position()
		s.smu.Lock()
		s.trim(p)
		s.smu.Unlock()
		switch {
		case err != nil && err.Error() != last:
			s.log.Error().Err(err).Msg("spool pruning failed; will retry")
			last = err.Error()
		case err == nil && last != "":
			s.log.Info().Msg("spool pruning recovered")
			last = ""
		}
	}
}

// index returns the position in s.gens of the file k names, or -1. s.smu is held.
func (s *Spool) index(k fileKey) int {
	for i := range s.gens {
		if s.gens[i].key == k {
			return i
		}
	}
	return -1
}

// trim drops from the queue of unconfirmed batches those that p, the
// position the log server confirmed, covers. s.smu is held.
func (s *Spool) trim(p checkpoint.Position) {
	if p.IsZero() {
		return
	}
	if i := s.index(fileKey{p.Dev, p.Inode}); i >= 0 {
		s.queue.confirm(s.gens[i].seq, p.Offset)
	}
}

// seedQueue puts what the spool held at Open into the queue, as one batch
// appended when the oldest file holding some of it was last modified.
func (s *Spool) seedQueue(p checkpoint.Position, mtimes []time.Time) {
	s.smu.Lock()
	defer s.smu.Unlock()
	if s.total == 0 {
		return
	}
	first := max(s.index(fileKey{p.Dev, p.Inode}), 0)
	if first < len(s.gens)-1 && p.Offset >= s.gens[first].size {
		first++ // read to its end: the next file holds the oldest unconfirmed bytes
	}
	live := s.gens[len(s.gens)-1]
	s.queue.push(entry{seq: live.seq, end: live.size, at: mtimes[first]})
	s.trim(p)
}
