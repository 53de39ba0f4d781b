package tailer

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// logrotate's copytruncate rotates a log by copying it and then truncating
// it in place, while the writer goes on appending (logrotate(8),
// https://man7.org/linux/man-pages/man8/logrotate.8.html). What the writer
// appended between the tailer's last read and the truncation is then only in
// the copy. The tailer remembers the first line of the live file (its
// fingerprint, and the line itself once checked) and notices a truncation
// when the file is shorter than what was read, or no longer starts with that
// line: checked after every read (sameFirstLine), so that bytes read from a
// content written again past the offset read are never taken for the old
// content, and at the end of what is there when no read returned data
// (checkLive). It then reads the
// rest of the old content from the copy, found by the fingerprint of its
// first line (openCopy), then the copies made after that one, in the order
// they were made (openNewerCopy), and goes on with the live file from its
// start. lumberjack never truncates in place, so none of this happens when
// kube-apiserver rotates its own log.

// firstLine is the fingerprint of a file's first line, and the file's size
// when it was taken.
type firstLine struct {
	fp   string
	n    int
	size int64
}

// truncation is a truncation in place of the live file that was found and
// not yet followed (see followTruncation).
type truncation struct {
	fp     string // fingerprint of the first line of the content truncated away
	fpLen  int
	offset int64      // how far that content was read: the offset after the last line returned
	size   int64      // the largest size it was seen to have
	next   *firstLine // what the live file holds now, if its first line is complete
	seen   time.Time  // when it was found
}

// errCopiesChanging is openCopy's answer when the copies kept changing
// (renamed, compressed, replaced) while it looked: whether the copy is
// there cannot be told yet.
var errCopiesChanging = errors.New("the copies made by copytruncate kept changing while looked at")

// copiesSettle bounds how long a truncation waits for the copies to stop
// changing before it is followed as one without a copy. Renames and
// compression by logrotate take milliseconds; only copies rewritten
// without end keep it waiting.
const copiesSettle = time.Minute

// errRewritten ends a read of the live file that found it truncated in
// place and written again (see onRead).
var errRewritten = errors.New("file truncated in place and written again")

// sameFirstLine reports whether the live file still starts with the line
// fingerprinted (cur.fp). Read after every read from the file, it tells
// whether that read may have returned bytes of a new content: a truncation
// followed by writes past the offset read leaves the file no shorter than
// what was read, but with another first line (audit events carry a unique
// auditID). A failed read is no evidence of a change.
func (t *Tailer) sameFirstLine(cur *file) bool {
	n := cur.fpLen
	if cap(t.firstBuf) < n+1 {
		t.firstBuf = make([]byte, n+1)
	}
	b := t.firstBuf[:n+1]
	t.calls.pread++
	var r io.ReaderAt = cur.f
	if cur.live {
		r = cur.raw
	}
	k, err := r.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return true
	}
	if n < fpMax && (k < n+1 || b[n] != '\n') || k < n {
		return false
	}
	if cur.firstFP == cur.fp {
		return bytes.Equal(b[:n], cur.first)
	}
	if hashFirstLine(b[:n]) != cur.fp {
		return false
	}
	cur.first, cur.firstFP = append(cur.first[:0], b[:n]...), cur.fp
	return true
}

// rewritten records, for Next to follow, that a read from the live file
// found it truncated in place and written again (see sameFirstLine).
func (t *Tailer) rewritten(cur *file, oldSize int64) error {
	if err := t.truncated(cur, oldSize, "file no longer starts with the line it started with"); err != nil {
		return err
	}
	return errRewritten
}

// truncated records that the live file was truncated in place, for Next to
// follow (see followTruncation): what was read past the last line returned
// is dropped, and the old content is read on from the copy made of it.
// oldSize is the largest size the old content was seen to have; why says how
// the truncation showed.
func (t *Tailer) truncated(cur *file, oldSize int64, why string) error {
	tr := &truncation{fp: cur.fp, fpLen: cur.fpLen, offset: t.lr.consumed, size: max(oldSize, t.lr.consumed), seen: time.Now()}
	fi, err := cur.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", cur.name, err)
	}
	if fp, n, ok, err := fingerprintFile(cur.f, false); err == nil && ok {
		tr.next = &firstLine{fp: fp, n: n, size: fi.Size()}
	}
	t.truncations.Add(1)
	t.log.Warn().Str("file", cur.name).Int64("size", fi.Size()).Int64("offset", t.lr.read).
		Msg(why + ": truncated in place (copytruncate?); reading the rest of the old content from its copy, then the file again from the start")
	t.trunc = tr
	return nil
}

// followTruncation goes on after a truncation in place of the live file
// (t.trunc): it switches to the copy copytruncate made of the old content, at
// the offset the tailer had reached in it; once the copy has been read to
// its end (a finished generation: an unterminated last line in it is
// returned flagged Partial), the copies made after it and then the live file
// from its start follow (see openNext).
// With no copy, the rest of the old content is lost: its bytes (those seen,
// a lower bound) are counted in LostBytes and logged, and the live file is
// read again from its start. While the copies keep changing, whether there
// is one cannot be told: it returns errCopiesChanging and t.trunc stays, to
// be followed at a later call (for up to copiesSettle). If ctx ends while
// it looks, t.trunc stays too.
func (t *Tailer) followTruncation(ctx context.Context) error {
	tr, cur := t.trunc, t.cur
	c, off, err := t.openCopy(ctx, tr.fp, tr.fpLen, tr.offset, nil)
	if errors.Is(err, errCopiesChanging) && time.Since(tr.seen) < copiesSettle {
		return err
	}
	if err != nil && !errors.Is(err, errCopiesChanging) {
		return err
	}
	t.trunc = nil
	if c != nil {
		cur.f.Close()
		t.use(c, off)
		t.liveNext = tr.next
		t.log.Info().Str("file", c.name).Str("truncated", cur.name).Int64("offset", off).
			Msg("reading the rest of the truncated content from the copy made of it; the live file follows from its start")
		return nil
	}
	if lost := tr.size - tr.offset; lost > 0 {
		t.lostBytes.Add(uint64(lost))
		t.log.Error().Str("file", cur.name).Int64("offset", tr.offset).Int64("lost_bytes", lost).
			Msg("no copy of the content truncated away was found (truncated without a copy, or the copy was removed): " +
				"the events after the offset are lost; reading the file again from the start")
	} else {
		// Everything seen was read; what was written after the last read
		// and before the truncation, if anything, was only in the copy.
		t.log.Warn().Str("file", cur.name).Int64("offset", tr.offset).
			Msg("no copy of the content truncated away was found (truncated without a copy, or the copy was removed): " +
				"events written after the offset just before the truncation, if any, are lost; reading the file again from the start")
	}
	if _, err := cur.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s: %w", cur.name, err)
	}
	t.lr.reset(0)
	cur.fp, cur.fpLen, cur.firstOK = "", 0, false
	if fi, err := cur.f.Stat(); err == nil {
		cur.size = fi.Size()
	}
	if tr.next != nil {
		cur.fp, cur.fpLen, cur.size = tr.next.fp, tr.next.n, tr.next.size
	}
	return nil
}

// firstLook runs before the first read of the live file from its start,
// while its first line is not known: it remembers that line, to tell if the
// file is truncated and written again before it is read. Back from copies
// (t.afterCopy), it first opens a copy made since, if any (switched). When
// the copies cannot be told yet (they kept changing while listed, or the
// live file holds no complete line, so a copy made between two looks could
// go unseen), nothing of the live file may be read: wait is set, and the
// caller looks again later. Else it sets what the live file is expected to
// start with: what it was seen to hold before the copies (liveNext), whose
// copy is then looked for if it is gone, and its loss counted when there is
// none.
func (t *Tailer) firstLook(ctx context.Context, cur *file) (switched, wait bool, err error) {
	if fp, n, ok, err := fingerprintFile(cur.f, false); err == nil && ok {
		cur.fp, cur.fpLen = fp, n
	}
	if t.afterCopy == nil {
		return false, false, nil
	}
	f, expect, err := t.nextCopy(ctx)
	if err != nil {
		cur.fp, cur.fpLen = "", 0
		return false, false, err
	}
	if f != nil {
		cur.f.Close()
		t.use(f, 0)
		return true, false, nil
	}
	if t.afterCopy != nil {
		// Unsettled: read nothing of the live file, which may be newer
		// than a copy not read yet, and look again at the next call.
		cur.fp, cur.fpLen = "", 0
		return false, true, nil
	}
	// What the file held before the copies were read (liveNext) is what it
	// must still start with; what it held when they were listed (expect)
	// only when the look above found no complete line.
	if e := cmp.Or(t.liveNext, expect); e != nil && (cur.fp == "" || e == t.liveNext) {
		cur.fp, cur.fpLen, cur.size = e.fp, e.n, e.size
	}
	t.liveNext = nil
	return false, false, nil
}

// peekLive fingerprints the live file as it is now, for when the tailer comes
// back to it after copies; nil if it has no complete first line.
func (t *Tailer) peekLive() *firstLine {
	f, fi, err := openRegular(t.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fp, n, ok, err := fingerprintFile(f, false)
	if err != nil || !ok {
		return nil
	}
	return &firstLine{fp: fp, n: n, size: fi.Size()}
}

// openCopy opens the copy that copytruncate made of a content of the live
// file before truncating it, at offset of its (decompressed) content, and
// returns the offset reached; nil if there is none. logrotate names the copy
// after the live file with a number (audit.log.1, renamed audit.log.2 at the
// next rotation) or, with dateext, a date (audit.log-20261206), and may gzip
// it (audit.log.1.gz) (logrotate(8)). So a copy is a regular file in the live
// file's directory, neither the live file nor a lumberjack backup, whose name
// is the live file's followed by '.' or '-', whose first line has the
// fingerprint fp, and whose content reaches offset. With key set, a plain
// copy must also be that file (a checkpointed copy keeps its inode when
// renamed). A plain copy is preferred to a gzipped one, which may still be
// being written. It returns errCopiesChanging when the copies kept
// changing while it looked, and ctx.Err() if ctx ends meanwhile.
func (t *Tailer) openCopy(ctx context.Context, fp string, fpLen int, offset int64, key *fileKey) (*file, int64, error) {
	if fp == "" {
		return nil, 0, nil // content without a complete first line cannot be recognised
	}
	var live fileKey
	if fi, err := os.Stat(t.path); err == nil {
		live.dev, live.ino = fileID(fi)
	}
	for attempt := 0; attempt < 3; attempt++ {
		cands, err := t.names.copies()
		if err != nil {
			return nil, 0, err
		}
		again := false // a candidate changed (compressed) while looked at: list again
		for _, c := range cands {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
			fi, err := os.Stat(c.path)
			if err != nil {
				again = again || errors.Is(err, fs.ErrNotExist)
				continue
			}
			d, i := fileID(fi)
			k := fileKey{d, i}
			if k == live || (key != nil && !c.gz && k != *key) || (!c.gz && fi.Size() < offset) {
				continue
			}
			if got, n, ok, err := fingerprintPath(c.path, c.gz); err != nil || !ok || got != fp || n != fpLen {
				again = again || errors.Is(err, fs.ErrNotExist)
				continue
			}
			f, off, err := t.openBackup(ctx, c.path, c.gz, time.Time{}, offset)
			var ce *corruptGzipError
			var nr *notRegularError
			switch {
			case err == nil:
			case errors.Is(err, fs.ErrNotExist), errors.As(err, &nr):
				again = true
				continue
			case errors.As(err, &ce):
				t.log.Warn().Str("file", c.path).AnErr("reason", ce.err).Msg("a copy of the truncated log is not valid gzip (still being compressed?); not read")
				continue
			default:
				return nil, 0, err
			}
			if f.key != k {
				// Renamed over since it was checked: logrotate shifts the
				// numbered names at every rotation.
				f.f.Close()
				again = true
				continue
			}
			if got, n, ok, err := fingerprintFile(f.f, c.gz); err != nil || !ok || got != fp || n != fpLen {
				f.f.Close() // replaced between the checks and the open
				again = true
				continue
			}
			if off < offset {
				f.f.Close()
				continue
			}
			f.fp, f.fpLen = fp, fpLen
			t.openedCopy(f)
			return f, off, nil
		}
		if !again {
			return nil, 0, nil
		}
	}
	return nil, 0, errCopiesChanging
}

// nextCopy opens the copy made after t.afterCopy, a copy read to its end,
// if there is one (see openNewerCopy). Else the live file comes next, and
// what it holds is looked at before and after the copies are listed: when
// it is the same, no copy was made meanwhile, and it is returned as what the
// live file is expected to start with, so that a truncation before it is
// read is seen. When the live file holds no complete line yet, or the copies
// keep changing, t.afterCopy stays (unsettled), so that copies are looked
// for again before anything of the live file is read (see firstLook).
func (t *Tailer) nextCopy(ctx context.Context) (*file, *firstLine, error) {
	for attempt := 0; attempt < 3; attempt++ {
		before := t.peekLive()
		f, settled, err := t.openNewerCopy(ctx, t.afterCopy)
		if err != nil {
			return nil, nil, err
		}
		if f != nil {
			t.afterCopy = nil
			return f, nil, nil
		}
		if !settled {
			return nil, nil, nil
		}
		after := t.peekLive()
		if before == nil || after == nil {
			if before == after {
				return nil, nil, nil
			}
			continue
		}
		if before.fp == after.fp && before.n == after.n {
			t.afterCopy = nil
			return nil, after, nil
		}
	}
	return nil, nil, nil
}

// copyInfo is a copy to be read.
type copyInfo struct {
	copyFile
	mtime time.Time
	fp    string
	n     int
}

// copiesAfter lists, oldest first, the copies made after prev that are to
// be read. Copies are ordered by modification time, which logrotate leaves
// as the copy was written, also when it renames a copy and when it
// compresses one (its compressLogFile gives the .gz file the plain copy's
// times, https://github.com/logrotate/logrotate/blob/main/logrotate.c), so
// that their order is the order in which their contents were written. File
// times are as coarse as the kernel's clock tick, so copies with prev's very
// time are listed too, in the order of their names (copyOlder). Left out are
// a copy without a complete first line (empty, or being written), a copy
// read before, a copy of what the live file still holds (being written, it
// may be incomplete, and the live file holds all of it: the live file is
// looked at after the copies, as copytruncate truncates it only once the
// copy is complete), and the later forms of a copy (a .gz being written
// beside its plain form).
func (t *Tailer) copiesAfter(ctx context.Context, prev *file) ([]copyInfo, error) {
	cands, err := t.names.copies()
	if err != nil {
		return nil, err
	}
	var out []copyInfo
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fi, err := os.Stat(c.path)
		if err != nil || fi.ModTime().Before(prev.mtime) {
			continue
		}
		fp, n, ok, err := fingerprintPath(c.path, c.gz)
		if err != nil || !ok || slices.Contains(t.copiesRead, fp) {
			continue
		}
		out = append(out, copyInfo{c, fi.ModTime(), fp, n})
	}
	if live := t.peekLive(); live != nil {
		out = slices.DeleteFunc(out, func(c copyInfo) bool { return c.fp == live.fp && c.n == live.n })
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := out[i].mtime, out[j].mtime; !a.Equal(b) {
			return a.Before(b)
		}
		return t.names.copyOlder(out[i].path, out[j].path)
	})
	seen := map[string]bool{}
	return slices.DeleteFunc(out, func(c copyInfo) bool {
		dup := seen[c.fp]
		seen[c.fp] = true
		return dup
	}), nil
}

// openNewerCopy opens, from its start, the oldest of the copies made after
// prev, a copy just read to its end (see copiesAfter); nil when there is
// none. Several copies are made between two looks of the tailer when the
// live file is truncated again while a copy is read, or several times before
// a truncation is noticed. The copies are listed twice, and taken only when
// both listings agree: a listing made while logrotate renames copies may
// miss one. settled is false when they kept changing.
func (t *Tailer) openNewerCopy(ctx context.Context, prev *file) (f *file, settled bool, err error) {
	for attempt := 0; attempt < 5; attempt++ {
		a, err := t.copiesAfter(ctx, prev)
		if err != nil {
			return nil, false, err
		}
		b, err := t.copiesAfter(ctx, prev)
		if err != nil {
			return nil, false, err
		}
		if !slices.EqualFunc(a, b, func(x, y copyInfo) bool { return x.fp == y.fp }) {
			continue // a rotation meanwhile: look again
		}
		if len(b) == 0 {
			return nil, true, nil
		}
		c := b[0]
		f, _, err := t.openBackup(ctx, c.path, c.gz, time.Time{}, 0)
		var ce *corruptGzipError
		var nr *notRegularError
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrNotExist), errors.As(err, &nr):
			continue // renamed or compressed meanwhile: look again
		case errors.As(err, &ce):
			// Complete (its first line could be read) but corrupt: none of
			// it is read, as for a corrupt backup.
			t.lostFiles.Add(1)
			t.lostBytes.Add(uint64(ce.size))
			t.log.Error().Str("file", c.path).Int64("compressed_bytes", ce.size).AnErr("reason", ce.err).
				Msg("a copy made by copytruncate is corrupt (failed gzip check); none of it is shipped and it is skipped: its events are lost")
			t.noteCopyRead(c.fp)
			continue
		default:
			return nil, false, err
		}
		if fp, n, ok, err := fingerprintFile(f.f, c.gz); err != nil || !ok || fp != c.fp || n != c.n {
			f.f.Close()
			continue // replaced meanwhile: look again
		}
		f.fp, f.fpLen = c.fp, c.n
		t.openedCopy(f)
		t.log.Info().Str("file", f.name).Str("after", prev.name).Msg("reading the next copy made by copytruncate")
		return f, true, nil
	}
	return nil, false, nil
}

// openedCopy notes a copy that is being read: that it is one, so that the
// copies made after it follow it; its fingerprint (the same in its plain and
// gzipped forms), so that it is not read again; and, when it holds what the
// live file was last seen to start with, that the live file holds something
// newer now.
func (t *Tailer) openedCopy(f *file) {
	f.copy = true
	if t.liveNext != nil && t.liveNext.fp == f.fp && t.liveNext.n == f.fpLen {
		t.liveNext = nil
	}
	t.noteCopyRead(f.fp)
}

// noteCopyRead remembers the fingerprints of the last copies read.
func (t *Tailer) noteCopyRead(fp string) {
	if len(t.copiesRead) == 64 {
		t.copiesRead = t.copiesRead[1:]
	}
	t.copiesRead = append(t.copiesRead, fp)
}

// copyOlder orders two copies made at the same time by their names:
// logrotate numbers copies from the newest (audit.log.1 is newer than
// audit.log.2) and dates them in a sortable form (audit.log-20261206, whose
// eight digits are not taken for a number).
func (n naming) copyOlder(a, b string) bool {
	sa, sb := n.copySuffix(a), n.copySuffix(b)
	number := func(s string) (uint64, bool) {
		v, err := strconv.ParseUint(s, 10, 64)
		return v, err == nil && len(s) <= 6
	}
	na, okA := number(sa)
	nb, okB := number(sb)
	if okA && okB {
		return na > nb
	}
	return sa < sb
}

// copySuffix is what a copy's name adds to the live file's, without the
// separator and the .gz: "1" for audit.log.1.gz, "20261206" for audit.log-20261206.
func (n naming) copySuffix(path string) string {
	name := strings.TrimSuffix(filepath.Base(path), ".gz")
	return name[min(len(n.live)+1, len(name)):]
}

// copyFile is a file named like a copy copytruncate makes of the live file.
type copyFile struct {
	path string
	gz   bool
}

// copies lists the regular files in the directory named like the copies
// that logrotate's copytruncate makes of the live file (see openCopy),
// lumberjack's backups excepted: plain ones first, each group in name order.
func (n naming) copies() ([]copyFile, error) {
	ents, err := os.ReadDir(n.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", n.dir, err)
	}
	var plain, gz []copyFile
	for _, e := range ents {
		name := e.Name()
		if len(name) <= len(n.live) || !strings.HasPrefix(name, n.live) || !e.Type().IsRegular() {
			continue
		}
		if sep := name[len(n.live)]; sep != '.' && sep != '-' {
			continue
		}
		if _, _, ok := n.parse(name); ok {
			continue // a lumberjack (or kubelet) backup
		}
		if n.kubelet && strings.HasSuffix(name, ".tmp") {
			continue // kubelet's gzip being written, or conmon's reopened log before its rename
		}
		c := copyFile{path: filepath.Join(n.dir, name), gz: strings.HasSuffix(name, ".gz")}
		if c.gz {
			gz = append(gz, c)
		} else {
			plain = append(plain, c)
		}
	}
	return append(plain, gz...), nil
}
