// Package tailer follows kube-apiserver's audit log through its rotations and
// hands out complete lines with the checkpoint position just after each one.
//
// kube-apiserver rotates with lumberjack: it renames audit.log to
// audit-<UTC time>.log, creates a new audit.log, and in the background may gzip
// the backup (audit-<time>.log.gz, then the plain backup is removed) and prune
// old ones. The tailer guarantees, for files it can still open:
//
//   - every line is returned exactly once, in file order, generation after
//     generation: a rotated file is read to its end before the next one, and
//     backups written while the agent was behind (or stopped) are read from
//     their plain or gzipped form, oldest first;
//   - a line is returned only once its newline has been written; the
//     unterminated end of a file that was rotated away is returned once,
//     flagged Partial, never glued to the next line;
//   - a line longer than MaxLineBytes is returned cut to that size and flagged
//     Truncated, and the rest of it is skipped, so memory stays bounded;
//   - the position of a line (Line.Pos) names the file by device, inode and a
//     fingerprint of its first line, so a restart never applies an offset to
//     the wrong file, even after the file was compressed;
//   - only regular files are opened: a named pipe, a device or a directory at
//     the path is an error at start-up and, if it appears later, is logged
//     and waited out like an absent file; every loop that reads ends when
//     the context does.
//
// Some installations rotate with logrotate's copytruncate instead: the file
// is copied and then truncated in place. When the tailer finds the live file
// truncated (shorter than what was read, or starting with another line than
// the one it fingerprinted, which it checks after every read that returned
// data, and at the end of the file when none did), it reads the
// rest of the old content from that copy, found by fingerprint, then any
// copies made after it, before the live file from its start (see
// copytruncate.go); when a content's copy is gone, its unread bytes are
// counted as lost.
//
// With Config.Rotation set to RotationKubelet, the log is a container's
// log that kubelet rotates: kube-apiserver run with --audit-log-path=-
// writes its audit log to its standard output, which the container
// runtime stores under /var/log/pods. Backups are then <n>.log.<local
// time YYYYMMDD-hhmmss>[.gz]; the runtime may write to a renamed file
// until kubelet has it reopen the log, so a rotated file is read until
// the new one exists and a grace has passed; and the log of the
// container's next instance, <n+1>.log, is followed once <n>.log is read
// to its end (see kubelet.go). Path may then also be a glob pattern of
// container log directories: a static pod's log directory changes with
// its manifest, and the directories matched are followed as one log, in
// the order the pods came, each read to its end before the next one from
// its beginning (see pods.go). The lines are then those of the runtime's
// logging format, which package containerlog decodes.
//
// This package does not use github.com/nxadm/tail, although it is the usual Go
// tailing library: on rotation it reopens the path before reading the old file
// to its end, it stats the path rather than the open descriptor (so a late
// write event on the old file looks like a truncation of the new one), its
// offsets carry no file identity, and it calls os.Exit from inside the library
// when inotify is unavailable. Measured against a lumberjack rotation storm it
// lost and duplicated thousands of lines. Instead, one inotify watch on the
// directory, read directly (see watch_linux.go), provides wake-ups, and the
// truth comes from fstat of the open descriptor, stat of the path, and the
// directory listing.
//
// The tailer works in batches, one wake-up each: Next hands out the lines
// that can be had without waiting and then returns io.EOF; Wait blocks until
// the log may have changed, and lets a burst of writes accumulate
// (Config.Linger) before returning. At the end of the live file, a batch
// costs one read (a read that returns less than it was given is the end of
// the file for now), one pread of the first line (the copytruncate check),
// one fstat (truncation), and a stat of the path (rotation) only when inotify
// reported a change in the directory or the last look is older than the poll
// interval.
package tailer

import (
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/rs/zerolog"
)

// Line is one line of the audit log.
type Line struct {
	// Text is the line without its newline. It is valid only until the next
	// call to Next.
	Text []byte
	// Source is the name the file had when it was opened.
	Source string
	// Start is the offset of the line's first byte in its file.
	Start int64
	// Size is the full length of the line without its newline; it is larger
	// than len(Text) when Truncated.
	Size int64
	// Pos is the checkpoint position just after this line (after its newline).
	Pos checkpoint.Position
	// Partial marks the unterminated end of a file that was rotated away.
	Partial bool
	// Truncated marks a line longer than MaxLineBytes, cut to that size.
	Truncated bool
}

// Stats are counters of the tailer's work.
type Stats struct {
	Rotations        uint64 // switches from one generation of the log to the next
	Truncations      uint64 // truncations in place found (copytruncate): a file shorter than what was read, or rewritten before it was read
	InotifyOverflows uint64
	LagBytes         int64  // bytes of the current file not yet returned
	LostFiles        uint64 // generations deleted before they were read to their end
	LostBytes        uint64 // their unread bytes, and those of contents truncated away without a copy (a lower bound when only an old size was known)
	Restarts         uint64 // logs of later instances of the container followed (RotationKubelet)
	Pods             uint64 // pod directories followed after the first (RotationKubelet, a glob Path)
	Polling          bool   // true when inotify is unusable and only the poll timer wakes the tailer
	FilesOpen        int    // log files held open (0 or 1: the tailer reads one generation at a time)
}

// Add adds o's counters to s (Polling if either polls): the figures of
// several tailers taken together.
func (s *Stats) Add(o Stats) {
	s.Rotations += o.Rotations
	s.Truncations += o.Truncations
	s.InotifyOverflows += o.InotifyOverflows
	s.LagBytes += o.LagBytes
	s.LostFiles += o.LostFiles
	s.LostBytes += o.LostBytes
	s.Restarts += o.Restarts
	s.Pods += o.Pods
	s.Polling = s.Polling || o.Polling
	s.FilesOpen += o.FilesOpen
}

// Tailer follows one audit log. Next, Wait and Close must be called from a
// single goroutine; Stats may be called from any.
type Tailer struct {
	cfg   Config
	path  string
	names naming
	log   zerolog.Logger
	watch *watcher
	timer *time.Timer

	lr  *lineReader
	cur *file

	// lastRotated is the rotation time of the last generation finished;
	// the next generation is the oldest backup rotated after it, else the
	// live file.
	lastRotated time.Time

	// checkpointed is the position loaded from the checkpoint (zero if
	// none), savedAt when it was written; startPos is where the tailer
	// started (see StartPosition), startKnown whether that is known.
	checkpointed checkpoint.Position
	savedAt      time.Time
	startPos     checkpoint.Position
	startKnown   bool

	rotations, truncations, lostFiles, lostBytes atomic.Uint64
	restartsFollowed                             atomic.Uint64
	filesOpen                                    atomic.Int32 // 1 while cur is set

	// restarts is set when the tailer follows the instances of a container
	// (RotationKubelet, and a live file named <restart count>.log, restart):
	// once the live file is read to its end and the log of a later
	// instance, later, was seen at laterAt, rotateGrace before, it goes on
	// with that one (see kubelet.go).
	restarts bool
	restart  int
	later    int
	laterAt  time.Time

	// pods are the directories a glob Path matches (nil otherwise): once
	// the live file is read to its end, no later instance of the container
	// is there, and a newer pod's directory, laterPod, was seen at laterAt
	// with laterRead bytes of the live file read, which did not grow for
	// rotateGrace, it goes on with that one (see pods.go). podFromStart is
	// set when the checkpoint's directory is gone and the tailer starts in
	// another from its beginning; liveUnread is the live file seen while
	// the backups before it were read.
	pods         *podDirs
	laterPod     podDir
	laterRead    int64
	podFromStart bool
	liveUnread   *unreadLive
	podsFollowed atomic.Uint64
	// left is the container log last left for a later instance's or pod's
	// (see checkLeft); nil when none.
	left *leftFile

	// trunc is a truncation in place of the live file found and not yet
	// followed (its copy not yet looked for); liveNext is what the live file
	// was seen to hold when the tailer went to read copies instead, what it
	// is expected to start with when the tailer comes back to it.
	trunc    *truncation
	liveNext *firstLine
	firstBuf []byte // scratch for sameFirstLine
	// afterCopy is the copy just read to its end, whose successor is to be
	// found; copiesRead the fingerprints of the last copies opened, which
	// are never opened again.
	afterCopy  *file
	copiesRead []string

	// refused is the last file found at the live path that is not a regular
	// file and was reported, so that it is reported once.
	refused    fileKey
	refusedSet bool

	// seen holds the backups not read yet that listings have shown, so that one
	// deleted before it was read (pruned by lumberjack while the agent was
	// behind) is reported with its size instead of vanishing silently.
	seen     map[time.Time]seenBackup
	lastScan time.Time
	lag      atomic.Int64

	// dirChanged is set when Wait saw the directory change (or could not
	// tell), and cleared when checkLive looks whether the path still names
	// the live file, which it does then, or when lastRotCheck is older than
	// the poll interval.
	dirChanged bool
	// busy is set when the last Wait ended with a change inotify reported:
	// the next Wait lingers first (see Wait).
	busy         bool
	lastRotCheck time.Time

	calls callCounts
}

// callCounts counts the system calls made on the file being read besides
// its reads (lineReader.reads), which tests hold to their budget.
type callCounts struct {
	fstat int // of the open file
	pread int // of the live file's first line (sameFirstLine)
	stat  int // of the live path, to see a rotation
}

type fileKey struct{ dev, ino uint64 }

// file is one open generation of the log.
type file struct {
	f       *os.File
	src     io.Reader // f, raw for the live file, or a gzip reader over f
	raw     rawFile   // f, read with raw system calls (the live file only: see rawio_linux.go)
	name    string
	key     fileKey
	gz      bool
	live    bool      // opened through the live path and not seen rotated yet
	ts      time.Time // rotation time, for backups
	size    int64     // largest (decompressed) size seen
	fp      string
	fpLen   int
	rotSeen time.Time // when the live file was seen rotated away
	mtime   time.Time // modification time when opened, for backups and copies
	copy    bool      // a copy made by copytruncate
	// firstOK is set when sameFirstLine found the live file unchanged after
	// the last read that returned data, so that the end of that read needs
	// no second look; checkLive clears it.
	firstOK bool
	// first holds the bytes fingerprinted as fp once sameFirstLine read them,
	// so that later checks compare bytes instead of hashing.
	first   []byte
	firstFP string
	// With RotationKubelet, a rotated file is finished once settled: the
	// live path was seen naming another file at reopened, and the file was
	// read to its end once more rotateGrace after that (see awaitReopen);
	// ended marks the live file of an instance of the container left for
	// the next instance's.
	reopened time.Time
	settled  bool
	ended    bool
}

// liveFile is the live file f, opened at path, with fi its stat: read with
// raw system calls (see rawio_linux.go).
func liveFile(f *os.File, fi fs.FileInfo, path string) *file {
	d, i := fileID(fi)
	raw := newRawFile(f)
	return &file{f: f, src: raw, raw: raw, name: path, key: fileKey{d, i}, live: true, size: fi.Size()}
}

// statSize returns the file's size: with a raw fstat for the live file.
func (f *file) statSize() (int64, error) {
	if f.live {
		return f.raw.Size()
	}
	fi, err := f.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// New returns a tailer for cfg.Path. start is the position loaded from the
// checkpoint (zero if none) and savedAt when it was written. New positions
// the tailer: in the checkpointed file if it still exists (or in the copy
// copytruncate made of it), else per StartAt in the live file (or, if there
// is none yet, at the start of the file that appears). It fails if the path
// names something other than a regular file, and returns ctx.Err() if ctx
// ends while it reads (a large file is searched, a gzipped backup verified).
func New(ctx context.Context, cfg Config, start checkpoint.Position, savedAt time.Time, log zerolog.Logger) (*Tailer, error) {
	var path string
	var pods *podDirs
	var fromStart bool
	var err error
	if cfg.Rotation == RotationKubelet && isPattern(cfg.Path) {
		pods = &podDirs{}
		if pods.pattern, err = filepath.Abs(cfg.Path); err != nil {
			return nil, fmt.Errorf("resolve %s: %w", cfg.Path, err)
		}
		if path, fromStart, err = pods.start(start.Path, savedAt, log); err != nil {
			return nil, fmt.Errorf("tail.path %s: %w", cfg.Path, err)
		}
	} else {
		if path, err = resolvePath(cfg.Path, log); err != nil {
			return nil, err
		}
		if cfg.Rotation == RotationKubelet && containerLogDir(path) {
			if path, err = instanceToFollow(path, start.Path); err != nil {
				return nil, fmt.Errorf("tail.path %s: %w", cfg.Path, err)
			}
		}
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		err := error(newNotRegular(path, fi))
		if path != cfg.Path {
			err = fmt.Errorf("tail.path %s: %w", cfg.Path, err)
		}
		return nil, err
	}
	t := &Tailer{
		cfg:          cfg,
		path:         path,
		names:        newNaming(path, cfg.Rotation),
		log:          log,
		lr:           newLineReader(cfg.MaxLineBytes),
		checkpointed: start,
		savedAt:      savedAt,
		timer:        time.NewTimer(time.Hour),
		// The first look at the end of the live file checks the path.
		dirChanged:   true,
		pods:         pods,
		podFromStart: fromStart,
	}
	t.timer.Stop()
	if cfg.Rotation == RotationKubelet {
		t.restart, t.restarts = liveRestart(t.names.live)
	}
	t.watch = newWatcher(t.names.dir, t.names.live, log)
	if err := t.start(ctx); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Stats returns a snapshot of the counters.
func (t *Tailer) Stats() Stats {
	return Stats{
		Rotations:        t.rotations.Load(),
		Truncations:      t.truncations.Load(),
		InotifyOverflows: t.watch.overflows.Load(),
		LagBytes:         t.lag.Load(),
		LostFiles:        t.lostFiles.Load(),
		LostBytes:        t.lostBytes.Load(),
		Restarts:         t.restartsFollowed.Load(),
		Pods:             t.podsFollowed.Load(),
		Polling:          t.watch.polling(),
		FilesOpen:        int(t.filesOpen.Load()),
	}
}

// setCur makes f the file being read (nil: none) and keeps FilesOpen in step.
func (t *Tailer) setCur(f *file) {
	t.cur = f
	if f != nil {
		t.filesOpen.Store(1)
	} else {
		t.filesOpen.Store(0)
	}
}

// Close releases the open file and the inotify instance. The tailer keeps
// no goroutine running, so none outlives Close. Close may be called again.
func (t *Tailer) Close() error {
	t.watch.close()
	t.timer.Stop()
	if t.cur != nil {
		t.cur.f.Close()
		t.setCur(nil)
	}
	return nil
}

// Next returns the next complete line, if one can be had without waiting:
// from what is buffered, or by reading the file, moving on to the next
// generation, returning the unterminated end of a rotated file (Partial),
// following a truncation into the copy made of the file, and so on.
//
// It returns io.EOF when no complete line is ready now: the file was read
// to its end, the log does not exist yet, or something is given time to
// settle (the unterminated end of a rotated plain file, which its writer may
// still complete, gets twice the poll interval). The caller then calls Wait
// and Next again; what is given time settles with the time that passes, not
// with the number of calls. io.EOF is not an end: the tailer follows the log
// for as long as it is open.
//
// It returns ctx.Err() when ctx ends, also in the middle of reading, or an
// error when the log cannot be read.
func (t *Tailer) Next(ctx context.Context) (Line, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Line{}, err
		}
		if t.trunc != nil {
			err := t.followTruncation(ctx)
			if errors.Is(err, errCopiesChanging) {
				return Line{}, io.EOF // look again after Wait
			}
			if err != nil {
				return Line{}, ctxOr(ctx, err)
			}
		}
		if t.cur == nil {
			ok, err := t.openNext(ctx)
			if err != nil {
				return Line{}, ctxOr(ctx, err)
			}
			if !ok {
				return Line{}, io.EOF // nothing new to open yet
			}
		}
		cur := t.cur
		if cur.live && cur.fp == "" && t.lr.read == 0 {
			switched, wait, err := t.firstLook(ctx, cur)
			if err != nil {
				return Line{}, ctxOr(ctx, err)
			}
			if switched {
				continue
			}
			if wait {
				return Line{}, io.EOF // copies not settled: look again after Wait
			}
		}
		l, ok, err := t.lr.next(ctx, cur.src, !cur.gz, t.onRead)
		if errors.Is(err, errRewritten) {
			continue // follow the truncation
		}
		if err != nil {
			return Line{}, ctxOr(ctx, fmt.Errorf("read %s: %w", cur.name, err))
		}
		if ok {
			return t.emit(l, false)
		}
		// End of what is there now.
		if !cur.live {
			// A backup, or a live file seen rotated away and read again to its end.
			if t.names.kubelet && !cur.settled && !cur.gz && !cur.copy {
				// The runtime may still write to it (see awaitReopen).
				if t.awaitReopen(cur) {
					continue
				}
				return Line{}, io.EOF
			}
			if t.lr.pending() {
				if !cur.gz && time.Since(cur.rotSeen) < t.rotateGrace() {
					// The writer may still complete the line; look again
					// after Wait.
					return Line{}, io.EOF
				}
				return t.emit(t.lr.fragment(), true)
			}
			t.finish()
			continue
		}
		again, err := t.checkLive(cur)
		if err != nil {
			return Line{}, err
		}
		if again || t.instanceEnded(cur) {
			continue // rotated: read it to its end once more, then move on; or truncated; or the container restarted
		}
		return Line{}, io.EOF
	}
}

// rotateGrace is how long an unterminated end of a rotated file is given to be
// completed before it is returned as Partial. lumberjack closes a file before
// renaming it, so nothing completes it; other writers might.
func (t *Tailer) rotateGrace() time.Duration { return 2 * t.cfg.PollInterval }

// ctxOr returns ctx.Err() once ctx has ended, err otherwise: an error that
// cancellation caused deep in a read is reported as the cancellation.
func ctxOr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

func (t *Tailer) emit(l line, partial bool) (Line, error) {
	cur := t.cur
	if cur.fp == "" {
		// The first line is complete now that a line has been read: the
		// first line itself, when it is the one just read (the file may have
		// been rewritten since), else read again from the file.
		fp, n, ok := lineFingerprint(l)
		if l.start != 0 || partial || !ok {
			var err error
			if fp, n, ok, err = fingerprintFile(cur.f, cur.gz); err != nil {
				return Line{}, fmt.Errorf("fingerprint %s: %w", cur.name, err)
			}
		}
		if ok {
			cur.fp, cur.fpLen = fp, n
		}
	}
	return Line{
		Text:      l.text,
		Source:    cur.name,
		Start:     l.start,
		Size:      l.size,
		Partial:   partial,
		Truncated: l.truncated,
		Pos: checkpoint.Position{
			Path: cur.name, Dev: cur.key.dev, Inode: cur.key.ino,
			Fingerprint: cur.fp, FingerprintLen: cur.fpLen, Offset: l.end, Size: max(cur.size, l.end),
		},
	}, nil
}

// onRead runs after every read from the file that returned data: it keeps
// the size and the lag current; for the live file, it checks that the file
// still starts with the line fingerprinted, else the file was truncated in
// place and written again, and what was just read may belong to the new
// content (errRewritten, see rewritten); and while the tailer is behind
// (reading a backup), it looks for backups deleted before they could be
// read. end is set when the read reached the end of a plain file.
//
// The size costs an fstat only when a read that did not reach the end went
// past the size last seen: a read that reached the end tells the size as
// it was then, and checkLive, which follows at the end of the live file,
// takes it from fstat.
func (t *Tailer) onRead(end bool) error {
	cur := t.cur
	if cur == nil {
		return nil
	}
	oldSize := cur.size
	switch {
	case cur.gz: // its size is the decompressed size, known when it was opened
	case end:
		cur.size = max(cur.size, t.lr.read)
	case t.lr.read > cur.size:
		t.calls.fstat++
		if size, err := cur.statSize(); err == nil {
			cur.size = max(cur.size, size)
		}
	}
	t.lag.Store(max(cur.size-t.lr.consumed, 0))
	if cur.live && cur.fp != "" {
		if !t.sameFirstLine(cur) {
			return t.rewritten(cur, oldSize)
		}
		cur.firstOK = true
	}
	if !cur.live && time.Since(t.lastScan) >= time.Second {
		if bs, err := t.names.list(); err == nil {
			t.noteBackups(bs)
		}
	}
	return nil
}

// checkLive looks at the live file at EOF: was it truncated in place, or
// rotated away (the path now names another file, or none)? again is true
// when there is more to read at once.
//
// It makes one fstat. It reads the first line again only when no read
// since the last checkLive returned data (after one that did, onRead
// checked it): the file may have been truncated and written again to the
// size already read. It stats the path only when Wait saw the directory
// change, or the last look is older than the poll interval: a rename or a
// removal of the live file shows in inotify as a change in the directory,
// and the poll interval is the safety net for what inotify does not report.
func (t *Tailer) checkLive(cur *file) (again bool, err error) {
	t.calls.fstat++
	size, err := cur.statSize()
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", cur.name, err)
	}
	oldSize := max(cur.size, t.lr.read)
	cur.size = size
	t.lag.Store(max(size-t.lr.consumed, 0))
	checked := cur.firstOK
	cur.firstOK = false
	if size < t.lr.read {
		return true, t.truncated(cur, oldSize, "file is shorter than what was read")
	}
	if cur.fp != "" && !checked && !t.sameFirstLine(cur) {
		// Truncated and written again before any of it was read, or emptied
		// since the tailer last looked at its first line.
		return true, t.truncated(cur, oldSize, "file no longer starts with the line it started with")
	}
	now := time.Now()
	if !t.dirChanged && now.Sub(t.lastRotCheck) < t.cfg.PollInterval {
		return false, nil
	}
	t.dirChanged, t.lastRotCheck = false, now
	if t.left != nil {
		t.checkLeft()
	}
	t.calls.stat++
	pfi, err := os.Stat(t.path) // stat only: whatever it names, nothing is opened here
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, fmt.Errorf("stat %s: %w", t.path, err)
	default:
		if d, i := fileID(pfi); (fileKey{d, i}) == cur.key {
			t.noteLaterRestart()
			return false, nil
		}
		t.noteLive(pfi)
	}
	// Rotated (renamed, or deleted). Nothing more is appended by lumberjack,
	// which closes the file before renaming it.
	cur.live = false
	cur.rotSeen = time.Now()
	cur.ts, _ = t.rotationTime(cur)
	if n, ok := fdName(cur.f); ok {
		cur.name = n
	}
	t.log.Debug().Str("file", cur.name).Msg("log rotated; reading the old file to its end")
	return true, nil
}

// rotationTime finds when cur (once the live file) was rotated, from the
// backup name it has now. ok is false when it was deleted rather than renamed.
func (t *Tailer) rotationTime(cur *file) (time.Time, bool) {
	if name, ok := fdName(cur.f); ok {
		if filepath.Dir(name) == t.names.dir {
			if ts, _, ok := t.names.parse(filepath.Base(name)); ok {
				return ts, true
			}
		}
		return time.Time{}, false
	}
	// No /proc: look for a plain backup with the same inode.
	bs, err := t.names.list()
	if err != nil {
		return time.Time{}, false
	}
	for _, b := range bs {
		if b.plain == "" {
			continue
		}
		if fi, err := os.Stat(b.plain); err == nil {
			if d, i := fileID(fi); (fileKey{d, i}) == cur.key {
				return b.ts, true
			}
		}
	}
	return time.Time{}, false
}

// finish closes the current file, which has been read to its end.
func (t *Tailer) finish() {
	cur := t.cur
	cur.f.Close()
	t.setCur(nil)
	if !cur.ts.IsZero() {
		t.lastRotated = cur.ts
	}
	if cur.copy {
		t.afterCopy = cur
	}
	t.rotations.Add(1)
	t.lag.Store(0)
	t.log.Debug().Str("file", cur.name).Int64("offset", t.lr.consumed).Time("rotated", cur.ts).Msg("finished file")
	if cur.ended {
		t.left = &leftFile{path: cur.name, key: cur.key, size: t.lr.consumed}
		if t.laterPod.path == "" {
			t.followRestart(t.later)
		} else if n, ok := t.laterRestart(); ok {
			t.followRestart(n) // the old pod's container restarted meanwhile
		} else {
			t.followPod(t.laterPod)
		}
	}
}

// openNext opens the generation after the last one finished: the oldest
// backup rotated after it, else the live file; after a copy made by
// copytruncate, the next copy (see openNewerCopy), else the live file. ok is
// false when there is nothing new to open yet.
func (t *Tailer) openNext(ctx context.Context) (ok bool, err error) {
	if t.afterCopy != nil {
		// After a copy made by copytruncate: the copies made after it, then
		// the live file.
		f, expect, err := t.nextCopy(ctx)
		if err != nil {
			return false, err
		}
		if f != nil {
			t.use(f, 0)
			return true, nil
		}
		if t.afterCopy == nil && t.liveNext == nil {
			t.liveNext = expect
		}
	}
	for attempt := 0; attempt < 10; attempt++ {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		// Open the live file before listing backups: any rotation that happened
		// before this open left a backup that the listing will show, so a
		// generation is never skipped.
		lf, lfi, err := t.openLive()
		if err != nil {
			return false, err
		}
		bs, err := t.names.list()
		if err != nil {
			if lf != nil {
				lf.Close()
			}
			return false, err
		}
		t.noteBackups(bs)
		var next *backup
		for i := range bs {
			if !t.lastRotated.IsZero() && bs[i].ts.After(t.lastRotated) {
				next = &bs[i]
				break
			}
		}
		if next != nil {
			if lf != nil {
				t.noteLive(lfi)
				lf.Close()
			}
			path, gz := next.path()
			f, off, err := t.openBackup(ctx, path, gz, next.ts, 0)
			var nr *notRegularError
			if errors.Is(err, fs.ErrNotExist) || errors.As(err, &nr) {
				continue // compressed, pruned or replaced meanwhile: list again
			}
			var ce *corruptGzipError
			if errors.As(err, &ce) {
				t.skipCorrupt(ce, next.ts, 0)
				attempt = 0
				continue
			}
			if err != nil {
				return false, err
			}
			t.use(f, off)
			t.log.Debug().Str("file", path).Msg("reading rotated backup")
			return true, nil
		}
		if lf == nil {
			if t.restarts {
				if n, ok := t.laterRestart(); ok {
					// No log of this instance of the container left to read.
					t.followRestart(n)
					attempt = 0
					continue
				}
			}
			if t.pods != nil && t.podGone() {
				t.liveVanished()
				if d, ok := t.pods.next(); ok {
					// No log of this pod left to read.
					t.followPod(d)
					attempt = 0
					continue
				}
			}
			return false, nil
		}
		t.liveUnread = nil
		nf := liveFile(lf, lfi, t.path)
		// With the copies unsettled (t.afterCopy still set), the live file
		// is opened without a first line, so that firstLook settles them
		// before anything of it is read.
		if e := t.liveNext; e != nil && t.afterCopy == nil {
			// Back from a copy made by copytruncate: the live file should
			// start with the line it had when the tailer went to the copy;
			// if not, it was truncated again meanwhile (see Next).
			nf.fp, nf.fpLen, nf.size = e.fp, e.n, e.size
			t.liveNext = nil
		}
		t.use(nf, 0)
		t.log.Debug().Str("file", t.path).Msg("following new live file")
		return true, nil
	}
	return false, nil
}

// use makes f the file being read, from offset off of its content.
func (t *Tailer) use(f *file, off int64) {
	t.setCur(f)
	t.lr.reset(off)
}

// openLive opens the live path if it names a regular file. f is nil when the
// path names nothing, or something other than a regular file: that is logged
// once for each such file met there and otherwise treated as an absent file,
// so that a named pipe or a device put at the path can neither stop nor wedge
// the tailer, which goes on waiting for a regular file.
func (t *Tailer) openLive() (*os.File, fs.FileInfo, error) {
	f, fi, err := openRegular(t.path)
	var nr *notRegularError
	switch {
	case err == nil:
		t.refusedSet = false
		return f, fi, nil
	case errors.Is(err, fs.ErrNotExist):
		t.refusedSet = false
		return nil, nil, nil
	case errors.As(err, &nr):
		if !t.refusedSet || t.refused != nr.key {
			t.refused, t.refusedSet = nr.key, true
			t.log.Error().Str("file", t.path).Str("reason", nr.what).
				Msg("the audit log path names something other than a regular file: it is not opened, and the tailer waits for a regular file there")
		}
		return nil, nil, nil
	default:
		return nil, nil, err
	}
}

// openBackup opens a rotated generation (a lumberjack backup, or a copy made
// by copytruncate) at offset of its (decompressed) content, and returns the
// offset reached, which is smaller only for a gzipped file shorter than
// offset. A gzipped file is verified whole first (corruptGzipError). It
// returns ctx.Err() if ctx ends while it decompresses.
func (t *Tailer) openBackup(ctx context.Context, path string, gz bool, ts time.Time, offset int64) (*file, int64, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, 0, err
	}
	d, i := fileID(fi)
	nf := &file{f: f, src: f, name: path, key: fileKey{d, i}, gz: gz, ts: ts, size: fi.Size(), mtime: fi.ModTime()}
	if gz {
		n, err := verifyGzip(ctx, f)
		nf.size = n
		if err != nil {
			f.Close()
			if cerr := ctx.Err(); cerr != nil {
				return nil, 0, cerr
			}
			return nil, 0, &corruptGzipError{path: path, size: fi.Size(), err: err}
		}
		zr, err := gzip.NewReader(io.NewSectionReader(f, 0, 1<<62))
		if err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("open gzip %s: %w", path, err)
		}
		nf.src = zr
		if offset > 0 {
			n, err := discard(ctx, zr, offset)
			if err != nil {
				f.Close()
				return nil, 0, ctxOr(ctx, fmt.Errorf("skip to offset %d in %s: %w", offset, path, err))
			}
			offset = n
		}
	} else if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("seek %s: %w", path, err)
		}
	}
	return nf, offset, nil
}

// StartPosition returns the position the tailer started from: the
// checkpoint's, or the live file and the offset StartAt chose. ok is false
// when no file was open at start-up.
func (t *Tailer) StartPosition() (checkpoint.Position, bool) { return t.startPos, t.startKnown }

// start positions the tailer at start-up (see position) and records where
// it starts (StartPosition).
func (t *Tailer) start(ctx context.Context) error {
	err := t.position(ctx)
	if err == nil && t.cur != nil {
		c := t.cur
		if c.fp == "" && !c.gz {
			if fp, n, ok, ferr := fingerprintFile(c.f, false); ferr == nil && ok {
				c.fp, c.fpLen = fp, n
			}
		}
		t.startPos = checkpoint.Position{Path: c.name, Dev: c.key.dev, Inode: c.key.ino,
			Fingerprint: c.fp, FingerprintLen: c.fpLen, Offset: t.lr.consumed}
		t.startKnown = t.startPos.Offset == 0 || t.startPos.Fingerprint != ""
	}
	return err
}

// position opens what the tailer reads first: the checkpoint's file at its
// offset if that file (or the copy made of it) still exists, else per
// StartAt in the live file; when the checkpoint names no file or a file now
// gone, the backups rotated since it was written come first.
func (t *Tailer) position(ctx context.Context) error {
	p := t.checkpointed
	if p.IsZero() && !t.savedAt.IsZero() {
		// An earlier run started at savedAt but recorded no file: read every
		// backup rotated since, then the live file, from their beginnings.
		t.log.Info().Time("earlier_start", t.savedAt).Msg("the checkpoint names no file yet; reading every backup rotated since the earlier start, then the live file")
		t.lastRotated = t.names.before(t.savedAt)
		return nil
	}
	if p.IsZero() {
		return t.startFresh(ctx)
	}
	found, err := t.resume(ctx, p)
	if err != nil || found {
		return err
	}
	t.lostFiles.Add(1)
	lost := max(p.Size-p.Offset, 0)
	t.lostBytes.Add(uint64(lost))
	t.log.Error().Str("file", p.Path).Uint64("inode", p.Inode).Int64("offset", p.Offset).Int64("lost_bytes_at_least", lost).
		Msg("the checkpointed file no longer exists (pruned or replaced while the agent was stopped): " +
			"the events after its checkpointed offset are lost; reading every newer backup and the live file " +
			"(keep the agent running, or raise --audit-log-maxbackup, to avoid this)")
	// Every backup rotated after the checkpoint was written is newer than the lost file.
	t.lastRotated = t.names.before(t.savedAt)
	if t.podFromStart {
		// Another pod's directory than the checkpoint's, now gone: all of it.
		t.lastRotated = time.Unix(0, 0).UTC()
	}
	return nil
}

// startFresh opens the live file per StartAt, at a first start.
func (t *Tailer) startFresh(ctx context.Context) error {
	f, fi, err := openRegular(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		// Everything written from now on is to be read: generations rotated
		// before the first read are backups newer than this moment.
		t.lastRotated = t.names.before(time.Now().UTC())
		t.log.Info().Str("file", t.path).Msg("waiting for the audit log to appear")
		return nil
	}
	if err != nil {
		return err
	}
	var off int64
	if t.cfg.StartAt == StartEnd {
		if off, err = lastLineEnd(ctx, f, fi.Size()); err != nil {
			f.Close()
			return ctxOr(ctx, fmt.Errorf("read %s: %w", t.path, err))
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("seek %s: %w", t.path, err)
		}
	}
	t.use(liveFile(f, fi, t.path), off)
	return nil
}

// resume opens the generation the checkpoint names, found by inode and
// fingerprint among the live file and the plain backups, or by fingerprint
// among the gzipped backups; or else the copy that copytruncate made of it
// (see openCopy).
func (t *Tailer) resume(ctx context.Context, p checkpoint.Position) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	matches := func(path string, gz bool) bool {
		if p.Fingerprint == "" {
			return !gz // offset 0 of an empty file: the inode is all there is
		}
		fp, n, ok, err := fingerprintPath(path, gz)
		return err == nil && ok && fp == p.Fingerprint && n == p.FingerprintLen
	}
	sameInode := func(path string) bool {
		fi, err := os.Stat(path)
		if err != nil {
			return false
		}
		d, i := fileID(fi)
		return d == p.Dev && i == p.Inode
	}
	// The live file.
	liveSame := sameInode(t.path)
	if liveSame && matches(t.path, false) {
		f, fi, err := openRegular(t.path)
		if err != nil {
			return false, err
		}
		off := p.Offset
		if fi.Size() < off {
			t.truncations.Add(1)
			t.log.Warn().Str("file", t.path).Int64("size", fi.Size()).Int64("offset", off).
				Msg("file is shorter than the checkpoint: truncated while the agent was stopped; reading the rest of the old content from its copy, then the file from the start")
			c, coff, err := t.openCopySettled(ctx, p.Fingerprint, p.FingerprintLen, off, nil)
			if err != nil || c != nil {
				f.Close()
				if c != nil {
					t.resumeIn(c, coff)
				}
				return c != nil, err
			}
			if lost := p.Size - p.Offset; lost > 0 {
				t.lostBytes.Add(uint64(lost))
				t.log.Error().Str("file", t.path).Int64("offset", p.Offset).Int64("lost_bytes_at_least", lost).
					Msg("no copy of the truncated content was found: the events after the checkpointed offset are lost")
			}
			off = 0
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return false, fmt.Errorf("seek %s: %w", t.path, err)
		}
		nf := liveFile(f, fi, t.path)
		nf.fp, nf.fpLen = p.Fingerprint, p.FingerprintLen
		t.use(nf, off)
		t.log.Info().Str("file", t.path).Int64("offset", off).Msg("resuming from checkpoint")
		return true, nil
	}
	bs, err := t.names.list()
	if err != nil {
		return false, err
	}
	for _, b := range bs {
		var path string
		var gz bool
		switch {
		case b.plain != "" && sameInode(b.plain) && matches(b.plain, false):
			path = b.plain
		case b.plain == "" && b.gz != "" && p.Fingerprint != "" && matches(b.gz, true):
			path, gz = b.gz, true
		default:
			continue
		}
		f, off, err := t.openBackup(ctx, path, gz, b.ts, p.Offset)
		if errors.Is(err, fs.ErrNotExist) && !gz {
			return t.resume(ctx, p) // compressed just now: look again
		}
		var ce *corruptGzipError
		if errors.As(err, &ce) {
			t.skipCorrupt(ce, b.ts, p.Offset)
			return true, nil // go on with the generations after it
		}
		var nr *notRegularError
		if errors.Is(err, fs.ErrNotExist) || errors.As(err, &nr) {
			continue
		}
		if err != nil {
			return false, err
		}
		f.fp, f.fpLen = p.Fingerprint, p.FingerprintLen
		t.use(f, off)
		t.log.Info().Str("file", path).Int64("offset", p.Offset).Msg("resuming from checkpoint in a rotated backup")
		return true, nil
	}
	// A copy: of the live file, if the checkpoint names it and it was
	// truncated in place while the agent was stopped (the copy has an inode
	// of its own); or the copy the checkpoint names, if the agent was
	// reading one (plain, it has the same inode still).
	var key *fileKey
	if p.Path != t.path {
		key = &fileKey{p.Dev, p.Inode}
	}
	c, off, err := t.openCopySettled(ctx, p.Fingerprint, p.FingerprintLen, p.Offset, key)
	if err != nil || c == nil {
		return false, err
	}
	if liveSame {
		t.truncations.Add(1)
		t.log.Warn().Str("file", t.path).Int64("offset", p.Offset).
			Msg("the checkpointed file was truncated in place while the agent was stopped (copytruncate?); reading the rest of the old content from its copy, then the file from the start")
	}
	t.resumeIn(c, off)
	return true, nil
}

// openCopySettled is openCopy at start-up, which cannot wait for a later
// call: while the copies keep changing it looks again, for up to a second,
// then takes them as they are.
func (t *Tailer) openCopySettled(ctx context.Context, fp string, fpLen int, offset int64, key *fileKey) (*file, int64, error) {
	for range 50 {
		c, off, err := t.openCopy(ctx, fp, fpLen, offset, key)
		if !errors.Is(err, errCopiesChanging) {
			return c, off, err
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.log.Warn().Str("file", t.path).Msg("the copies made by copytruncate kept changing for a second at start-up; going on without the checkpointed one")
	return nil, 0, nil
}

// resumeIn starts at offset off in c, a copy made by copytruncate; the live
// file is read from its start after it.
func (t *Tailer) resumeIn(c *file, off int64) {
	t.liveNext = t.peekLive()
	t.use(c, off)
	t.log.Info().Str("file", c.name).Int64("offset", off).Msg("resuming from checkpoint in a copy made by copytruncate; the live file follows from its start")
}

// seenBackup is a backup a listing showed and that has not been read yet.
type seenBackup struct {
	path string
	size int64 // bytes of content (decompressed size for .gz)
}

// noteBackups records the unread backups in a listing and reports every
// earlier-seen unread backup that is gone from it: lumberjack deleted it
// (--audit-log-maxbackup or --audit-log-maxage) before the agent read it.
func (t *Tailer) noteBackups(bs []backup) {
	t.lastScan = time.Now()
	if t.lastRotated.IsZero() {
		return // not reading backups: those in the directory are history
	}
	if t.seen == nil {
		t.seen = map[time.Time]seenBackup{}
	}
	present := make(map[time.Time]bool, len(bs))
	for _, b := range bs {
		if !b.ts.After(t.lastRotated) {
			continue
		}
		present[b.ts] = true
		path, gz := b.path()
		if old, ok := t.seen[b.ts]; ok && old.path == path {
			continue
		}
		if size, ok := contentSize(path, gz); ok {
			t.seen[b.ts] = seenBackup{path: path, size: size}
		}
	}
	for ts, sb := range t.seen {
		switch {
		case !ts.After(t.lastRotated):
			delete(t.seen, ts) // read (or being read)
		case !present[ts] && (t.cur == nil || t.cur.ts != ts):
			delete(t.seen, ts)
			t.lostFiles.Add(1)
			t.lostBytes.Add(uint64(sb.size))
			msg := "a rotated audit log was deleted before the agent could read it (the agent was behind, " +
				"and --audit-log-maxbackup or --audit-log-maxage was reached): its events are lost"
			if t.names.kubelet {
				msg = "a rotated container log was deleted before the agent could read it (the agent was behind, " +
					"and kubelet's containerLogMaxFiles was reached, or kubelet removed the old pod's logs): its events are lost"
			}
			t.log.Error().Str("file", sb.path).Int64("lost_bytes", sb.size).Msg(msg)
		}
	}
}

// contentSize returns a backup's size: the file size, or for .gz the
// uncompressed size from its trailer (modulo 4 GiB, as gzip stores it).
func contentSize(path string, gz bool) (int64, bool) {
	f, fi, err := openRegular(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if !gz {
		return fi.Size(), true
	}
	var tr [4]byte
	if fi.Size() < 18 {
		return 0, false
	}
	if _, err := f.ReadAt(tr[:], fi.Size()-4); err != nil {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint32(tr[:])), true
}

// resolvePath makes path absolute and resolves symbolic links in it, so that
// backups are looked for where lumberjack renames the file: a symlinked
// directory (/var/log/kubernetes -> /data/logs) or a symlink to the file
// itself are followed once, at start-up.
func resolvePath(path string, log zerolog.Logger) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	dir, base := filepath.Split(abs)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("resolve %s: %w", dir, err)
	}
	resolved := filepath.Join(dir, base)
	if fi, err := os.Lstat(resolved); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(resolved)
		if err != nil {
			return "", fmt.Errorf("resolve symbolic link %s: %w", resolved, err)
		}
		resolved = target
	}
	if resolved != abs {
		log.Info().Str("path", abs).Str("resolved", resolved).
			Msg("following symbolic links: rotated backups are looked for next to the resolved file")
	}
	return resolved, nil
}

// corruptGzipError is a gzipped backup that fails its CRC or length check,
// or is not gzip at all. None of its lines is handed on.
type corruptGzipError struct {
	path string
	size int64 // compressed size
	err  error
}

func (e *corruptGzipError) Error() string {
	return fmt.Sprintf("gzip backup %s is corrupt: %v", e.path, e.err)
}

// skipCorrupt reports a corrupt backup as lost and moves past it, so one bad
// file never stops the agent (a restart would meet it again).
func (t *Tailer) skipCorrupt(ce *corruptGzipError, ts time.Time, offset int64) {
	t.lostFiles.Add(1)
	t.lostBytes.Add(uint64(ce.size))
	t.log.Error().Str("file", ce.path).Int64("compressed_bytes", ce.size).Int64("offset", offset).AnErr("reason", ce.err).
		Msg("a rotated audit log is corrupt (failed gzip check); none of it is shipped and it is skipped: its events are lost")
	if ts.After(t.lastRotated) {
		t.lastRotated = ts
	}
	delete(t.seen, ts)
}
