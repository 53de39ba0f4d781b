package tailer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/internal/agenttest"
	"github.com/rs/zerolog"
	"gopkg.in/natefinch/lumberjack.v2"
)

func testConfig(t *testing.T, dir string) Config {
	t.Helper()
	c := Config{Path: filepath.Join(dir, "audit.log"), PollInterval: 20 * time.Millisecond}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func newTailer(t *testing.T, cfg Config, start checkpoint.Position, savedAt time.Time) *Tailer {
	t.Helper()
	tl, err := New(t.Context(), cfg, start, savedAt, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	return tl
}

// nextWithin returns the next line as a caller of the tailer gets it: Next,
// and Wait whenever Next returns io.EOF, until a line, an error, or the end
// of ctx (ctx.Err()).
func nextWithin(ctx context.Context, tl *Tailer) (Line, error) {
	for {
		l, err := tl.Next(ctx)
		if !errors.Is(err, io.EOF) {
			return l, err
		}
		if err := tl.Wait(ctx); err != nil {
			return Line{}, err
		}
	}
}

// next reads one line with a deadline, failing the test if none comes.
func next(t *testing.T, tl *Tailer) Line {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	l, err := nextWithin(ctx, tl)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	l.Text = bytes.Clone(l.Text)
	return l
}

// expectNothing checks that no line is available for a short while.
func expectNothing(t *testing.T, tl *Tailer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	if l, err := nextWithin(ctx, tl); err == nil {
		t.Fatalf("unexpected line %q", l.Text)
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next: %v; want it to wait", err)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestLinesAndExactOffsets(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	appendFile(t, cfg.Path, "hello\nworld\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})

	l := next(t, tl)
	if string(l.Text) != "hello" || l.Start != 0 || l.Size != 5 || l.Pos.Offset != 6 {
		t.Fatalf("line 1 = %q start %d size %d offset %d", l.Text, l.Start, l.Size, l.Pos.Offset)
	}
	if l.Pos.Fingerprint == "" || l.Pos.FingerprintLen != 5 || l.Pos.Inode == 0 {
		t.Fatalf("position lacks identity: %+v", l.Pos)
	}
	l = next(t, tl)
	if string(l.Text) != "world" || l.Start != 6 || l.Pos.Offset != 12 {
		t.Fatalf("line 2 = %q start %d offset %d", l.Text, l.Start, l.Pos.Offset)
	}
	// A partial line is held until its newline arrives.
	appendFile(t, cfg.Path, `{"a":`)
	expectNothing(t, tl)
	appendFile(t, cfg.Path, "1}\n")
	l = next(t, tl)
	if string(l.Text) != `{"a":1}` || l.Start != 12 || l.Pos.Offset != 20 || l.Partial {
		t.Fatalf("line 3 = %q start %d offset %d partial %v", l.Text, l.Start, l.Pos.Offset, l.Partial)
	}
	// Empty lines are lines too.
	appendFile(t, cfg.Path, "\n")
	if l = next(t, tl); len(l.Text) != 0 || l.Pos.Offset != 21 {
		t.Fatalf("empty line = %q offset %d", l.Text, l.Pos.Offset)
	}
}

func TestStartAtEnd(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.StartAt = StartEnd
	appendFile(t, cfg.Path, "old 1\nold 2\nhalf-writ")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	appendFile(t, cfg.Path, "ten\nnew\n")
	// Starting at the end of the last complete line, so the half-written line is read whole.
	if l := next(t, tl); string(l.Text) != "half-written" || l.Start != 12 {
		t.Fatalf("got %q at %d", l.Text, l.Start)
	}
	if l := next(t, tl); string(l.Text) != "new" {
		t.Fatalf("got %q", l.Text)
	}
}

func TestWaitsForFileToAppear(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, filepath.Join(dir, "later"))
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	expectNothing(t, tl)
	os.MkdirAll(filepath.Dir(cfg.Path), 0o700)
	appendFile(t, cfg.Path, "first\n")
	if l := next(t, tl); string(l.Text) != "first" {
		t.Fatalf("got %q", l.Text)
	}
}

func TestLongLineTruncatedAndBounded(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.MaxLineBytes = 1 << 20
	long := strings.Repeat("x", 3<<20+17) // spans many read buffers
	appendFile(t, cfg.Path, "a\n"+long+"\nb\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	next(t, tl)
	l := next(t, tl)
	if !l.Truncated || len(l.Text) != cfg.MaxLineBytes || l.Size != int64(len(long)) || l.Start != 2 || l.Pos.Offset != int64(2+len(long)+1) {
		t.Fatalf("long line: truncated %v len %d size %d start %d offset %d", l.Truncated, len(l.Text), l.Size, l.Start, l.Pos.Offset)
	}
	if l := next(t, tl); string(l.Text) != "b" || l.Truncated {
		t.Fatalf("line after long one = %q truncated %v", l.Text, l.Truncated)
	}
}

func TestRotationByRenameReadsOldFileToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	appendFile(t, cfg.Path, "1\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	if l := next(t, tl); string(l.Text) != "1" {
		t.Fatal(string(l.Text))
	}
	// Lines written just before the rename, a fragment left behind, a new file.
	appendFile(t, cfg.Path, "2\n3\nfrag")
	backup := filepath.Join(dir, "audit-2026-11-21T10-00-00.000.log")
	if err := os.Rename(cfg.Path, backup); err != nil {
		t.Fatal(err)
	}
	appendFile(t, cfg.Path, "4\n")
	for _, want := range []string{"2", "3"} {
		if l := next(t, tl); string(l.Text) != want {
			t.Fatalf("got %q, want %q", l.Text, want)
		}
	}
	l := next(t, tl)
	if string(l.Text) != "frag" || !l.Partial || l.Start != 6 || l.Pos.Offset != 10 || l.Source != backup {
		t.Fatalf("fragment = %q partial %v offset %d source %s", l.Text, l.Partial, l.Pos.Offset, l.Source)
	}
	l = next(t, tl)
	if string(l.Text) != "4" || l.Start != 0 || l.Source != cfg.Path || l.Partial {
		t.Fatalf("new file line = %q start %d from %s", l.Text, l.Start, l.Source)
	}
	if tl.Stats().Rotations != 1 {
		t.Fatalf("rotations = %d", tl.Stats().Rotations)
	}
}

func TestSeveralRotationsBetweenReadsIncludingGzip(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	appendFile(t, cfg.Path, "a1\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	next(t, tl)
	// While the reader sleeps: three rotations, the middle backup already gzipped.
	appendFile(t, cfg.Path, "a2\n")
	os.Rename(cfg.Path, filepath.Join(dir, "audit-2026-11-21T10-00-01.000.log"))
	appendFile(t, cfg.Path, "b1\nb2\n")
	os.Rename(cfg.Path, filepath.Join(dir, "audit-2026-11-21T10-00-02.000.log"))
	gzipFile(t, filepath.Join(dir, "audit-2026-11-21T10-00-02.000.log"))
	appendFile(t, cfg.Path, "c1\n")
	os.Rename(cfg.Path, filepath.Join(dir, "audit-2026-11-21T10-00-03.000.log"))
	appendFile(t, cfg.Path, "d1\n")
	var got []string
	for range 5 {
		got = append(got, string(next(t, tl).Text))
	}
	if want := "a2 b1 b2 c1 d1"; strings.Join(got, " ") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	expectNothing(t, tl)
}

func gzipFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	if err := os.WriteFile(path+".gz", buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
}

func TestCopyTruncateDetected(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	appendFile(t, cfg.Path, "one\ntwo\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	next(t, tl)
	next(t, tl)
	if err := os.Truncate(cfg.Path, 0); err != nil {
		t.Fatal(err)
	}
	expectNothing(t, tl) // notices the truncation
	appendFile(t, cfg.Path, "three\n")
	l := next(t, tl)
	if string(l.Text) != "three" || l.Start != 0 {
		t.Fatalf("after truncation: %q at %d", l.Text, l.Start)
	}
	if tl.Stats().Truncations != 1 {
		t.Fatalf("truncations = %d", tl.Stats().Truncations)
	}
}

func TestResumeFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	appendFile(t, cfg.Path, "l1\nl2\nl3\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	next(t, tl)
	pos := next(t, tl).Pos
	tl.Close()

	t.Run("live file", func(t *testing.T) {
		tl := newTailer(t, cfg, pos, time.Now())
		if l := next(t, tl); string(l.Text) != "l3" || l.Start != 6 {
			t.Fatalf("resumed at %q %d", l.Text, l.Start)
		}
	})
	t.Run("rotated and gzipped while stopped", func(t *testing.T) {
		saved := time.Now().UTC()
		rot := filepath.Join(dir, "audit-"+saved.Add(time.Second).Format(backupTimeFormat)+".log")
		os.Rename(cfg.Path, rot)
		gzipFile(t, rot)
		appendFile(t, cfg.Path, "n1\n")
		tl := newTailer(t, cfg, pos, saved)
		for _, want := range []string{"l3", "n1"} {
			if l := next(t, tl); string(l.Text) != want {
				t.Fatalf("got %q, want %q", l.Text, want)
			}
		}
		if tl.Stats().LostFiles != 0 {
			t.Fatal("reported a loss")
		}
	})
	t.Run("checkpointed file gone", func(t *testing.T) {
		matches, _ := filepath.Glob(filepath.Join(dir, "audit-*.log.gz"))
		for _, m := range matches {
			os.Remove(m)
		}
		tl := newTailer(t, cfg, pos, time.Now().Add(-time.Hour))
		if l := next(t, tl); string(l.Text) != "n1" {
			t.Fatalf("got %q", l.Text)
		}
		if tl.Stats().LostFiles != 1 {
			t.Fatalf("lost files = %d, want 1", tl.Stats().LostFiles)
		}
	})
}

func TestResumeRejectsReplacedFile(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	appendFile(t, cfg.Path, "old-1\nold-2\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	pos := next(t, tl).Pos
	tl.Close()
	// Same path, new content, possibly the same inode: the fingerprint differs.
	os.Remove(cfg.Path)
	appendFile(t, cfg.Path, "new-1\nnew-2\nnew-3\n")
	pos2 := pos
	fi, _ := os.Stat(cfg.Path)
	pos2.Dev, pos2.Inode = fileID(fi) // simulate inode reuse
	tl = newTailer(t, cfg, pos2, time.Now())
	if l := next(t, tl); string(l.Text) != "new-1" || l.Start != 0 {
		t.Fatalf("got %q at %d; want the new file from its start", l.Text, l.Start)
	}
}

// seqWriter writes sequenced JSON lines through lumberjack exactly as
// kube-apiserver does: one Write per event, rotation by rename, gzip of backups.
//
// lumberjack names backups with millisecond precision, and two rotations in the
// same millisecond would overwrite a backup (lumberjack's own loss, impossible at
// kube-apiserver's 100 MB files but possible at this test's 1 MB). The writer
// therefore never starts a rotation in the millisecond of the previous one; it
// does not otherwise pace itself.
type seqWriter struct {
	lj      *lumberjack.Logger
	size    int
	lastRot int64
	padding string
}

func (w *seqWriter) write(seq int) error {
	line := fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"id-%d","stage":"ResponseComplete","seq":%d,"pad":"%s"}`+"\n", seq, seq, w.padding[:seq%len(w.padding)])
	if w.size+len(line) > w.lj.MaxSize<<20 {
		for time.Now().UnixMilli() == w.lastRot {
			time.Sleep(100 * time.Microsecond)
		}
		w.lastRot = time.Now().UnixMilli()
		w.size = 0
	}
	w.size += len(line)
	_, err := w.lj.Write([]byte(line))
	return err
}

func TestLumberjackRotationStorm(t *testing.T) {
	n := 40000
	if testing.Short() {
		n = 8000
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	lj := &lumberjack.Logger{Filename: cfg.Path, MaxSize: 1, Compress: true}
	t.Cleanup(func() { // before TempDir's removal: lumberjack gzips in the background
		if err := agenttest.WaitCompressed(dir, time.Minute); err != nil {
			t.Error(err)
		}
	})
	w := &seqWriter{lj: lj, padding: strings.Repeat("p", 1500)}
	// The first event exists before the tailer starts.
	if err := w.write(0); err != nil {
		t.Fatal(err)
	}
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})

	var wg sync.WaitGroup
	wg.Add(1)
	var werr error
	go func() {
		defer wg.Done()
		for i := 1; i < n; i++ {
			if werr = w.write(i); werr != nil {
				return
			}
		}
		werr = lj.Close()
	}()

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	lastOffset := map[string]int64{}
	for want := 0; want < n; want++ {
		l, err := nextWithin(ctx, tl)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", want, n, err)
		}
		var ev struct {
			Seq int `json:"seq"`
		}
		if err := json.Unmarshal(l.Text, &ev); err != nil || l.Partial || l.Truncated {
			t.Fatalf("line %d: %q (partial %v): %v", want, l.Text, l.Partial, err)
		}
		if ev.Seq != want {
			t.Fatalf("got event %d, want %d (source %s)", ev.Seq, want, l.Source)
		}
		if l.Pos.Offset != l.Start+l.Size+1 || l.Start != lastOffset[l.Pos.Fingerprint] {
			t.Fatalf("event %d: start %d size %d offset %d, previous end %d", want, l.Start, l.Size, l.Pos.Offset, lastOffset[l.Pos.Fingerprint])
		}
		lastOffset[l.Pos.Fingerprint] = l.Pos.Offset
	}
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
	expectNothing(t, tl)
	gz, _ := filepath.Glob(filepath.Join(dir, "*.gz"))
	st := tl.Stats()
	t.Logf("%d events, %d rotations seen, %d gzipped backups on disk", n, st.Rotations, len(gz))
	if st.Rotations < 5 || len(gz) == 0 {
		t.Fatalf("the test did not exercise rotation: %d rotations, %d gz files", st.Rotations, len(gz))
	}
}

func TestEarlierStartWithoutFileReadsBackupsSince(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	earlier := time.Now().UTC()
	// Before the earlier start: history that must not be read again.
	old := filepath.Join(dir, "audit-"+earlier.Add(-time.Hour).Format(backupTimeFormat)+".log")
	appendFile(t, old, "history\n")
	// After it, the file the earlier run was reading rotated away.
	appendFile(t, filepath.Join(dir, "audit-"+earlier.Add(time.Second).Format(backupTimeFormat)+".log"), "r1\nr2\n")
	appendFile(t, cfg.Path, "live\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, earlier)
	for _, want := range []string{"r1", "r2", "live"} {
		if l := next(t, tl); string(l.Text) != want {
			t.Fatalf("got %q, want %q", l.Text, want)
		}
	}
	expectNothing(t, tl)
}

func TestStartPosition(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.StartAt = StartEnd
	appendFile(t, cfg.Path, "first\nsecond\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	p, ok := tl.StartPosition()
	if !ok || p.Offset != 13 || p.FingerprintLen != 5 || p.Path != cfg.Path {
		t.Fatalf("start position %+v ok %v", p, ok)
	}
	missing := testConfig(t, filepath.Join(t.TempDir(), "none"))
	if _, ok := newTailer(t, missing, checkpoint.Position{}, time.Time{}).StartPosition(); ok {
		t.Fatal("start position of a missing file")
	}
}

func TestBackupDeletedBeforeReadIsCountedExactly(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir)
			earlier := time.Now().UTC()
			name := func(d time.Duration) string {
				return filepath.Join(dir, "audit-"+earlier.Add(d).Format(backupTimeFormat)+".log")
			}
			appendFile(t, name(1*time.Second), "b1\nb2\n")
			lostContent := "c1 will be lost\nc2 too\n"
			appendFile(t, name(2*time.Second), lostContent)
			if gz {
				gzipFile(t, name(2*time.Second))
			}
			appendFile(t, name(3*time.Second), "d1\n")
			appendFile(t, cfg.Path, "live\n")
			tl := newTailer(t, cfg, checkpoint.Position{}, earlier) // an earlier run recorded no file
			if l := next(t, tl); string(l.Text) != "b1" {
				t.Fatalf("got %q", l.Text)
			}
			// lumberjack prunes the unread backup while the agent is behind.
			os.Remove(name(2 * time.Second))
			os.Remove(name(2*time.Second) + ".gz")
			for _, want := range []string{"b2", "d1", "live"} {
				if l := next(t, tl); string(l.Text) != want {
					t.Fatalf("got %q, want %q", l.Text, want)
				}
			}
			st := tl.Stats()
			if st.LostFiles != 1 || st.LostBytes != uint64(len(lostContent)) {
				t.Fatalf("lost files %d bytes %d; want 1 and %d", st.LostFiles, st.LostBytes, len(lostContent))
			}
		})
	}
}

func TestCheckpointedFileGoneCountsUnreadBytes(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	appendFile(t, cfg.Path, "now\n")
	gone := checkpoint.Position{Path: filepath.Join(dir, "audit-old.log"), Inode: 1, Fingerprint: "00", FingerprintLen: 2, Offset: 1000, Size: 4096}
	tl := newTailer(t, cfg, gone, time.Now().Add(-time.Minute))
	if l := next(t, tl); string(l.Text) != "now" {
		t.Fatalf("got %q", l.Text)
	}
	if st := tl.Stats(); st.LostFiles != 1 || st.LostBytes != 3096 {
		t.Fatalf("lost files %d bytes %d; want 1 and 3096", st.LostFiles, st.LostBytes)
	}
}

func TestSymlinkedPath(t *testing.T) {
	for _, kind := range []string{"directory", "file"} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			realDir := filepath.Join(root, "data")
			os.MkdirAll(realDir, 0o700)
			realPath := filepath.Join(realDir, "audit.log")
			var cfg Config
			if kind == "directory" {
				os.Symlink(realDir, filepath.Join(root, "link"))
				cfg = testConfig(t, filepath.Join(root, "link"))
			} else {
				cfg = testConfig(t, root)
				appendFile(t, realPath, "")
				os.Symlink(realPath, cfg.Path)
			}
			appendFile(t, realPath, "a1\n")
			tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
			next(t, tl)
			// Two rotations in the real directory while the reader waits.
			appendFile(t, realPath, "a2\n")
			os.Rename(realPath, filepath.Join(realDir, "audit-2026-11-21T10-00-01.000.log"))
			appendFile(t, realPath, "b1\n")
			os.Rename(realPath, filepath.Join(realDir, "audit-2026-11-21T10-00-02.000.log"))
			appendFile(t, realPath, "c1\n")
			for _, want := range []string{"a2", "b1", "c1"} {
				if l := next(t, tl); string(l.Text) != want {
					t.Fatalf("got %q, want %q", l.Text, want)
				}
			}
		})
	}
}

func TestCorruptGzipIsSkippedAndCounted(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	earlier := time.Now().UTC()
	name := func(d time.Duration) string {
		return filepath.Join(dir, "audit-"+earlier.Add(d).Format(backupTimeFormat)+".log")
	}
	appendFile(t, name(time.Second), "a1\n")
	appendFile(t, name(2*time.Second), "bad1\nbad2\n")
	gzipFile(t, name(2*time.Second))
	gz := name(2*time.Second) + ".gz"
	b, _ := os.ReadFile(gz)
	b[len(b)-6] ^= 0xff // break the CRC
	os.WriteFile(gz, b, 0o600)
	appendFile(t, name(3*time.Second), "c1\n")
	appendFile(t, cfg.Path, "live\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, earlier)
	for _, want := range []string{"a1", "c1", "live"} {
		if l := next(t, tl); string(l.Text) != want {
			t.Fatalf("got %q, want %q (no line of a corrupt gzip may be handed on)", l.Text, want)
		}
	}
	if st := tl.Stats(); st.LostFiles != 1 || st.LostBytes != uint64(len(b)) {
		t.Fatalf("lost files %d bytes %d; want 1 and %d", st.LostFiles, st.LostBytes, len(b))
	}
}

func TestPlainPreferredOverPartialGzip(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	earlier := time.Now().UTC()
	plain := filepath.Join(dir, "audit-"+earlier.Add(time.Second).Format(backupTimeFormat)+".log")
	appendFile(t, plain, "p1\np2\n")
	// lumberjack's compression in progress: a half-written .gz beside the plain file.
	os.WriteFile(plain+".gz", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}, 0o600)
	appendFile(t, cfg.Path, "live\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, earlier)
	for _, want := range []string{"p1", "p2", "live"} {
		if l := next(t, tl); string(l.Text) != want {
			t.Fatalf("got %q, want %q", l.Text, want)
		}
	}
	if st := tl.Stats(); st.LostFiles != 0 {
		t.Fatalf("lost files %d", st.LostFiles)
	}
}

func TestDeleteAndRecreate(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	appendFile(t, cfg.Path, "old-1\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	next(t, tl)
	appendFile(t, cfg.Path, "old-2\n")
	os.Remove(cfg.Path)
	appendFile(t, cfg.Path, "new-1\n")
	for _, want := range []string{"old-2", "new-1"} {
		if l := next(t, tl); string(l.Text) != want {
			t.Fatalf("got %q, want %q", l.Text, want)
		}
	}
}

func TestTruncatedWhileStoppedAndGrownBack(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	appendFile(t, cfg.Path, "first line of the old file\nsecond\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	next(t, tl)
	pos := next(t, tl).Pos
	tl.Close()
	// copytruncate while the agent was stopped, then more than pos.Offset bytes written.
	os.Truncate(cfg.Path, 0)
	appendFile(t, cfg.Path, "a new first line, longer than the old offset\nnext\n")
	tl = newTailer(t, cfg, pos, time.Now())
	if l := next(t, tl); l.Start != 0 || !strings.HasPrefix(string(l.Text), "a new first line") {
		t.Fatalf("got %q at %d; want the new content from offset 0", l.Text, l.Start)
	}
}

func TestFileAppearsAndRotatesBeforeFirstRead(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{}) // no file yet
	// Before the first Next, the log appears and rotates twice.
	appendFile(t, cfg.Path, "g1\n")
	os.Rename(cfg.Path, filepath.Join(dir, "audit-"+time.Now().UTC().Add(time.Second).Format(backupTimeFormat)+".log"))
	appendFile(t, cfg.Path, "g2\n")
	os.Rename(cfg.Path, filepath.Join(dir, "audit-"+time.Now().UTC().Add(2*time.Second).Format(backupTimeFormat)+".log"))
	appendFile(t, cfg.Path, "g3\n")
	for _, want := range []string{"g1", "g2", "g3"} {
		if l := next(t, tl); string(l.Text) != want {
			t.Fatalf("got %q, want %q", l.Text, want)
		}
	}
}

func TestLineLongerThanMaxButShorterThanReadBuffer(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.MaxLineBytes = 64 << 10
	long := strings.Repeat("y", 100<<10) // under the 256 KiB read buffer
	appendFile(t, cfg.Path, long+"\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	if l := next(t, tl); !l.Truncated || len(l.Text) != cfg.MaxLineBytes || l.Size != int64(len(long)) {
		t.Fatalf("truncated %v len %d size %d", l.Truncated, len(l.Text), l.Size)
	}
}
