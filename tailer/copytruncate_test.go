package tailer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
)

// seqLines returns n newline-terminated lines of different lengths.
func seqLines(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"auditID":"%s-%d","pad":"%s"}`, prefix, i, strings.Repeat("x", i%40*7)) + "\n"
	}
	return out
}

func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	_, ino := fileID(fi)
	return ino
}

// copyTruncate does what logrotate's copytruncate does to live: copy it to
// dst (gzipped if dst ends in .gz), then truncate it in place.
func copyTruncate(t *testing.T, live, dst string) {
	t.Helper()
	b, err := os.ReadFile(live)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(dst, ".gz") {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		b = buf.Bytes()
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(live, 0); err != nil {
		t.Fatal(err)
	}
}

// from is the file lines are expected from.
type from struct {
	path  string
	ino   uint64
	first string // the file's first line, with its newline
}

func fileFrom(t *testing.T, path, first string) from {
	return from{path: path, ino: inodeOf(t, path), first: first}
}

// expectLines reads len(lines) lines and checks each one's text, offsets and
// position, which must name src; the first starts at offset start. It
// returns the position after the last.
func expectLines(t *testing.T, tl *Tailer, src from, lines []string, start int64) checkpoint.Position {
	t.Helper()
	fp := hashFirstLine([]byte(strings.TrimSuffix(src.first, "\n")))
	off := start
	var pos checkpoint.Position
	for i, want := range lines {
		l := next(t, tl)
		pos = l.Pos
		end := off + int64(len(want))
		if string(l.Text) != strings.TrimSuffix(want, "\n") || l.Start != off || l.Partial ||
			l.Source != src.path || l.Pos.Path != src.path || l.Pos.Inode != src.ino ||
			l.Pos.Offset != end || l.Pos.Fingerprint != fp || l.Pos.FingerprintLen != len(src.first)-1 {
			t.Fatalf("line %d: %q at %d from %s, position %+v;\nwant %q at %d from %s (inode %d), offset %d, fingerprint %s",
				i, l.Text, l.Start, l.Source, l.Pos, strings.TrimSuffix(want, "\n"), off, src.path, src.ino, end, fp)
		}
		off = end
	}
	return pos
}

func size(lines []string) int64 { return int64(len(strings.Join(lines, ""))) }

// TestCopyTruncateBeforeFirstRead: the log is copied and truncated in place
// after New positioned the tailer and before its first read, and the writer
// appends. The lines that were there at start come from the copy, then the
// new ones from the live file, each exactly once.
func TestCopyTruncateBeforeFirstRead(t *testing.T) {
	for _, name := range []string{"audit.log.1", "audit.log-20261206", "audit.log.1.gz", "audit.log-20261206.gz"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir)
			before, after := seqLines("before", 5), seqLines("after", 3)
			appendFile(t, cfg.Path, strings.Join(before, ""))
			tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
			cp := filepath.Join(dir, name)
			copyTruncate(t, cfg.Path, cp)
			appendFile(t, cfg.Path, strings.Join(after, ""))

			expectLines(t, tl, fileFrom(t, cp, before[0]), before, 0)
			expectLines(t, tl, fileFrom(t, cfg.Path, after[0]), after, 0)
			expectNothing(t, tl)
			if st := tl.Stats(); st.Truncations != 1 || st.LostBytes != 0 || st.LostFiles != 0 {
				t.Fatalf("truncations %d, lost %d bytes %d files; want 1, 0, 0", st.Truncations, st.LostBytes, st.LostFiles)
			}
		})
	}
}

// TestCopyTruncateBeforeFirstReadNothingWritten: copied and truncated
// before the first read, with nothing written since: the empty file no
// longer starts with the line seen at start, and that line's content is
// read from the copy.
func TestCopyTruncateBeforeFirstReadNothingWritten(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	before := seqLines("before", 3)
	appendFile(t, cfg.Path, strings.Join(before, ""))
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	cp := filepath.Join(dir, "audit.log.1")
	copyTruncate(t, cfg.Path, cp)

	expectLines(t, tl, fileFrom(t, cp, before[0]), before, 0)
	expectNothing(t, tl)
	appendFile(t, cfg.Path, "next\n")
	if l := next(t, tl); string(l.Text) != "next" || l.Start != 0 || l.Source != cfg.Path {
		t.Fatalf("got %q at %d from %s", l.Text, l.Start, l.Source)
	}
	if st := tl.Stats(); st.Truncations != 1 || st.LostBytes != 0 {
		t.Fatalf("truncations %d, lost bytes %d; want 1, 0", st.Truncations, st.LostBytes)
	}
}

// TestCopyTruncateWhileFollowing: lines appended after the tailer's last
// read and before the copy come from the copy, from where the tailer was.
func TestCopyTruncateWhileFollowing(t *testing.T) {
	for _, name := range []string{"audit.log.1", "audit.log-20261206.gz"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir)
			read, unread := seqLines("read", 3), seqLines("unread", 2)
			appendFile(t, cfg.Path, strings.Join(read, ""))
			tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
			expectLines(t, tl, fileFrom(t, cfg.Path, read[0]), read, 0)
			appendFile(t, cfg.Path, strings.Join(unread, ""))
			cp := filepath.Join(dir, name)
			copyTruncate(t, cfg.Path, cp)
			after := []string{"a\n", "b\n"} // shorter than what was read: the truncation shows
			appendFile(t, cfg.Path, strings.Join(after, ""))

			expectLines(t, tl, fileFrom(t, cp, read[0]), unread, size(read))
			expectLines(t, tl, fileFrom(t, cfg.Path, after[0]), after, 0)
			expectNothing(t, tl)
			if st := tl.Stats(); st.Truncations != 1 || st.LostBytes != 0 {
				t.Fatalf("truncations %d, lost bytes %d; want 1, 0", st.Truncations, st.LostBytes)
			}
		})
	}
}

// TestCopyTruncateWhileBehind: the tailer is behind, with old lines
// buffered and more in the file, when the file is copied, truncated, and
// written again past the offset read. The file is no shorter than what was
// read, but its first line changed: the next read is not taken for old
// content, the old content is read on from the copy, from the last line
// returned.
func TestCopyTruncateWhileBehind(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	old, after := seqLines("old", 2000), seqLines("new", 2000) // both over readBufSize
	appendFile(t, cfg.Path, strings.Join(old, ""))
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	live := fileFrom(t, cfg.Path, old[0])
	expectLines(t, tl, live, old[:1], 0) // the first read fills the read buffer
	cp := filepath.Join(dir, "audit.log.1")
	copyTruncate(t, cfg.Path, cp)
	appendFile(t, cfg.Path, strings.Join(after, ""))

	// The lines complete in the first read come from the buffer, the rest from the copy.
	k := 1
	for size(old[:k+1]) <= readBufSize {
		k++
	}
	expectLines(t, tl, live, old[1:k], size(old[:1]))
	expectLines(t, tl, fileFrom(t, cp, old[0]), old[k:], size(old[:k]))
	expectLines(t, tl, fileFrom(t, cfg.Path, after[0]), after, 0)
	if st := tl.Stats(); st.Truncations != 1 || st.LostBytes != 0 {
		t.Fatalf("truncations %d, lost bytes %d; want 1, 0", st.Truncations, st.LostBytes)
	}
}

// TestSeveralCopiesBeforeTruncationSeen: the file is copied and truncated
// twice before the tailer reads it. The copy of what it held at start is
// found by fingerprint, the newer copy follows it, then the live file.
// logrotate's copies keep the time they were made, which orders them; made
// within one clock tick, they are ordered by name.
func TestSeveralCopiesBeforeTruncationSeen(t *testing.T) {
	for _, tc := range []struct {
		older, newer string
		sameTime     bool
	}{
		{"audit.log.2", "audit.log.1", false},
		{"audit.log.2", "audit.log.1", true},
		{"audit.log-20261205", "audit.log-20261206.gz", true},
	} {
		t.Run(fmt.Sprintf("%s then %s, same time %v", tc.older, tc.newer, tc.sameTime), func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir)
			first, second, third := seqLines("first", 4), seqLines("second", 3), seqLines("third", 2)
			appendFile(t, cfg.Path, strings.Join(first, ""))
			tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
			older, newer := filepath.Join(dir, tc.older), filepath.Join(dir, tc.newer)
			copyTruncate(t, cfg.Path, older)
			appendFile(t, cfg.Path, strings.Join(second, ""))
			copyTruncate(t, cfg.Path, newer)
			appendFile(t, cfg.Path, strings.Join(third, ""))
			made := time.Now().Add(-time.Minute)
			os.Chtimes(older, made, made)
			if !tc.sameTime {
				made = made.Add(time.Second)
			}
			os.Chtimes(newer, made, made)

			expectLines(t, tl, fileFrom(t, older, first[0]), first, 0)
			expectLines(t, tl, fileFrom(t, newer, second[0]), second, 0)
			expectLines(t, tl, fileFrom(t, cfg.Path, third[0]), third, 0)
			expectNothing(t, tl)
			if st := tl.Stats(); st.Truncations != 1 || st.LostBytes != 0 {
				t.Fatalf("truncations %d, lost bytes %d; want 1, 0", st.Truncations, st.LostBytes)
			}
		})
	}
}

// TestCopyBeingWrittenIsNotRead: a copy of what the live file still holds
// (copytruncate is copying it, and has not truncated it yet) is not read:
// it may be incomplete, and the live file holds all of it.
func TestCopyBeingWrittenIsNotRead(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	first, second := seqLines("first", 4), seqLines("second", 3)
	appendFile(t, cfg.Path, strings.Join(first, ""))
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	older, newer := filepath.Join(dir, "audit.log.2"), filepath.Join(dir, "audit.log.1")
	copyTruncate(t, cfg.Path, older)
	appendFile(t, cfg.Path, strings.Join(second, ""))
	b, err := os.ReadFile(cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newer, b[:len(b)-5], 0o600); err != nil { // part of the copy written
		t.Fatal(err)
	}
	made := time.Now().Add(-time.Minute)
	os.Chtimes(older, made, made)

	expectLines(t, tl, fileFrom(t, older, first[0]), first, 0)
	expectLines(t, tl, fileFrom(t, cfg.Path, second[0]), second, 0)
	expectNothing(t, tl)
}

// TestCopyTruncateAgainWhileReadingCopy: the live file is copied and
// truncated a second time while the tailer reads the first copy, which
// logrotate renames meanwhile. The content between the two copies is read
// from the second copy, the next one made, before the live file.
func TestCopyTruncateAgainWhileReadingCopy(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	first, second, third := seqLines("first", 4), seqLines("second", 3), seqLines("third", 2)
	appendFile(t, cfg.Path, strings.Join(first, ""))
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	cp1 := filepath.Join(dir, "audit.log.1")
	copyTruncate(t, cfg.Path, cp1)
	appendFile(t, cfg.Path, strings.Join(second, ""))
	src1 := fileFrom(t, cp1, first[0])
	off := expectLines(t, tl, src1, first[:1], 0).Offset

	cp2 := filepath.Join(dir, "audit.log.2")
	if err := os.Rename(cp1, cp2); err != nil {
		t.Fatal(err)
	}
	copyTruncate(t, cfg.Path, cp1)
	appendFile(t, cfg.Path, strings.Join(third, ""))

	expectLines(t, tl, src1, first[1:], off) // the open copy, under the name it was opened by
	expectLines(t, tl, fileFrom(t, cp1, second[0]), second, 0)
	expectLines(t, tl, fileFrom(t, cfg.Path, third[0]), third, 0)
	expectNothing(t, tl)
	if st := tl.Stats(); st.Truncations != 1 || st.LostBytes != 0 {
		t.Fatalf("truncations %d, lost bytes %d; want 1 (the second is not seen in the live file), 0", st.Truncations, st.LostBytes)
	}
}

// TestCopyRemovedBeforeReadCountsLoss: what the live file held when the
// tailer went to read a copy is copied and truncated in its turn, and that
// copy removed (logrotate's rotate count) before the tailer comes back: its
// bytes are counted as lost, and the tailer goes on with the live file.
func TestCopyRemovedBeforeReadCountsLoss(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	first, second, third := seqLines("first", 4), seqLines("second", 3), seqLines("third", 2)
	appendFile(t, cfg.Path, strings.Join(first, ""))
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	cp := filepath.Join(dir, "audit.log.1")
	copyTruncate(t, cfg.Path, cp)
	appendFile(t, cfg.Path, strings.Join(second, ""))
	src := fileFrom(t, cp, first[0])
	off := expectLines(t, tl, src, first[:1], 0).Offset // the live file holds second now

	gone := filepath.Join(dir, "audit.log.2")
	copyTruncate(t, cfg.Path, gone)
	os.Remove(gone)
	appendFile(t, cfg.Path, strings.Join(third, ""))

	expectLines(t, tl, src, first[1:], off)
	expectLines(t, tl, fileFrom(t, cfg.Path, third[0]), third, 0)
	if st := tl.Stats(); st.LostBytes != uint64(size(second)) {
		t.Fatalf("lost bytes %d; want %d", st.LostBytes, size(second))
	}
}

// TestResumeInCopy: a checkpoint taken while the tailer read a copy resumes
// in that copy, also once logrotate renamed and gzipped it; the live file
// follows from its start.
func TestResumeInCopy(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	before, after := seqLines("before", 5), seqLines("after", 3)
	appendFile(t, cfg.Path, strings.Join(before, ""))
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	cp := filepath.Join(dir, "audit.log.1")
	copyTruncate(t, cfg.Path, cp)
	appendFile(t, cfg.Path, strings.Join(after, ""))
	p := expectLines(t, tl, fileFrom(t, cp, before[0]), before[:2], 0)
	pos := p.Offset
	tl.Close()

	t.Run("copy as it was", func(t *testing.T) {
		tl := newTailer(t, cfg, p, time.Now())
		expectLines(t, tl, fileFrom(t, cp, before[0]), before[2:], pos)
		expectLines(t, tl, fileFrom(t, cfg.Path, after[0]), after, 0)
		if st := tl.Stats(); st.LostFiles != 0 || st.LostBytes != 0 {
			t.Fatalf("lost %d files %d bytes", st.LostFiles, st.LostBytes)
		}
	})
	t.Run("copy renamed and gzipped", func(t *testing.T) {
		cp2 := filepath.Join(dir, "audit.log.2")
		if err := os.Rename(cp, cp2); err != nil {
			t.Fatal(err)
		}
		gzipFile(t, cp2)
		tl := newTailer(t, cfg, p, time.Now())
		expectLines(t, tl, fileFrom(t, cp2+".gz", before[0]), before[2:], pos)
		expectLines(t, tl, fileFrom(t, cfg.Path, after[0]), after, 0)
		if st := tl.Stats(); st.LostFiles != 0 || st.LostBytes != 0 {
			t.Fatalf("lost %d files %d bytes", st.LostFiles, st.LostBytes)
		}
	})
}

// TestCopyTruncateWhileStopped: the checkpointed live file was copied and
// truncated while the agent was stopped; the rest of it comes from the copy.
func TestCopyTruncateWhileStopped(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	before, after := seqLines("before", 5), seqLines("after", 8)
	appendFile(t, cfg.Path, strings.Join(before, ""))
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	next(t, tl)
	pos := next(t, tl).Pos
	tl.Close()
	cp := filepath.Join(dir, "audit.log-20261206")
	copyTruncate(t, cfg.Path, cp)
	appendFile(t, cfg.Path, strings.Join(after, "")) // longer than the checkpoint's offset

	tl = newTailer(t, cfg, pos, time.Now())
	expectLines(t, tl, fileFrom(t, cp, before[0]), before[2:], pos.Offset)
	expectLines(t, tl, fileFrom(t, cfg.Path, after[0]), after, 0)
	if st := tl.Stats(); st.Truncations != 1 || st.LostFiles != 0 || st.LostBytes != 0 {
		t.Fatalf("truncations %d, lost %d files %d bytes; want 1, 0, 0", st.Truncations, st.LostFiles, st.LostBytes)
	}
}

// TestTruncatedWithoutCopyCountsLoss: truncated in place with no copy, the
// file is read again from its start and the bytes that were not read are
// counted as lost.
func TestTruncatedWithoutCopyCountsLoss(t *testing.T) {
	t.Run("before the first read", func(t *testing.T) {
		cfg := testConfig(t, t.TempDir())
		before, after := seqLines("before", 5), seqLines("after", 3)
		appendFile(t, cfg.Path, strings.Join(before, ""))
		tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
		if err := os.Truncate(cfg.Path, 0); err != nil {
			t.Fatal(err)
		}
		appendFile(t, cfg.Path, strings.Join(after, ""))
		expectLines(t, tl, fileFrom(t, cfg.Path, after[0]), after, 0)
		if st := tl.Stats(); st.Truncations != 1 || st.LostBytes != uint64(size(before)) {
			t.Fatalf("truncations %d, lost bytes %d; want 1, %d", st.Truncations, st.LostBytes, size(before))
		}
	})
	t.Run("while following", func(t *testing.T) {
		cfg := testConfig(t, t.TempDir())
		appendFile(t, cfg.Path, "one\n")
		tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
		next(t, tl)
		appendFile(t, cfg.Path, "frag") // read, held until its newline
		expectNothing(t, tl)
		if err := os.Truncate(cfg.Path, 0); err != nil {
			t.Fatal(err)
		}
		appendFile(t, cfg.Path, "x\n")
		if l := next(t, tl); string(l.Text) != "x" || l.Start != 0 || l.Partial {
			t.Fatalf("got %q at %d (partial %v)", l.Text, l.Start, l.Partial)
		}
		if st := tl.Stats(); st.Truncations != 1 || st.LostBytes != uint64(len("frag")) {
			t.Fatalf("truncations %d, lost bytes %d; want 1, %d", st.Truncations, st.LostBytes, len("frag"))
		}
	})
}

// copyRotator rotates a log the way logrotate's copytruncate with
// delaycompress does: the numbered copies move up by one, the previous copy
// is gzipped (keeping its modification time, as logrotate does), and the
// file is copied to name.1 and truncated in place. Writes are held off
// during a rotation: logrotate's own man page warns that lines written
// between the copy and the truncation are lost.
type copyRotator struct {
	mu    sync.Mutex // held by writes and rotations
	path  string
	w     *os.File
	count int // copies made
}

func (r *copyRotator) write(line string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.w.WriteString(line)
	return err
}

func (r *copyRotator) rotate() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := func(k int) string { return fmt.Sprintf("%s.%d", r.path, k) }
	for k := r.count; k >= 1; k-- {
		os.Rename(name(k)+".gz", name(k+1)+".gz")
		os.Rename(name(k), name(k+1))
	}
	if prev := name(2); r.count > 0 {
		b, err := os.ReadFile(prev)
		if err == nil {
			fi, _ := os.Stat(prev)
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(b)
			zw.Close()
			if err := os.WriteFile(prev+".gz", buf.Bytes(), 0o600); err != nil {
				return err
			}
			os.Chtimes(prev+".gz", fi.ModTime(), fi.ModTime())
			os.Remove(prev)
		}
	}
	b, err := os.ReadFile(r.path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(name(1), b, 0o600); err != nil {
		return err
	}
	r.count++
	return os.Truncate(r.path, 0)
}

// TestCopyTruncateStorm writes sequenced events while the log is copied and
// truncated every few hundred events, the first time after the tailer
// started and before its first read: every event comes out exactly once, in
// order.
func TestCopyTruncateStorm(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 5000
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	w, err := os.OpenFile(cfg.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := &copyRotator{path: cfg.Path, w: w}
	pad := strings.Repeat("p", 1500)
	line := func(seq int) string {
		return fmt.Sprintf(`{"kind":"Event","auditID":"id-%d","seq":%d,"pad":"%s"}`+"\n", seq, seq, pad[:seq%len(pad)])
	}
	for i := range 100 { // there before the tailer starts
		r.write(line(i))
	}
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	if err := r.rotate(); err != nil {
		t.Fatal(err)
	}

	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 100; i < n && werr == nil; i++ {
			if werr = r.write(line(i)); werr == nil && i%400 == 0 {
				werr = r.rotate()
			}
		}
	}()

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for want := 0; want < n; want++ {
		l, err := nextWithin(ctx, tl)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", want, n, err)
		}
		var ev struct {
			Seq int `json:"seq"`
		}
		if err := json.Unmarshal(l.Text, &ev); err != nil || l.Partial || l.Truncated {
			t.Fatalf("line %d: %.60q (partial %v) from %s at %d: %v", want, l.Text, l.Partial, l.Source, l.Start, err)
		}
		if ev.Seq != want {
			t.Fatalf("got event %d, want %d (from %s at %d)", ev.Seq, want, l.Source, l.Start)
		}
	}
	<-done
	if werr != nil {
		t.Fatal(werr)
	}
	expectNothing(t, tl)
	st := tl.Stats()
	t.Logf("%d events, %d copies made, stats %+v", n, r.count, st)
	if st.Truncations == 0 || st.LostFiles != 0 || st.LostBytes != 0 {
		t.Fatalf("truncations %d, lost %d files %d bytes; want some, none lost", st.Truncations, st.LostFiles, st.LostBytes)
	}
}
