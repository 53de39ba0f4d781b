package tailer

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/internal/agenttest"
	"github.com/rs/zerolog"
)

// unblockFIFO opens path read-write without blocking, which releases an
// open(2) of it blocked waiting for a writer or a reader, so that a test
// that found the tailer blocked does not leave it blocked.
func unblockFIFO(path string) {
	if f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NONBLOCK, 0); err == nil {
		time.AfterFunc(time.Second, func() { f.Close() })
	}
}

func TestNonRegularPathRefusedAtStart(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		make       func(t *testing.T, path string) string // returns the path the error must name
	}{
		{"fifo", "is a named pipe (FIFO), not a regular file", func(t *testing.T, path string) string {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		}},
		{"symlink to /dev/zero", "is a character device, not a regular file", func(t *testing.T, path string) string {
			if err := os.Symlink("/dev/zero", path); err != nil {
				t.Fatal(err)
			}
			return "/dev/zero"
		}},
		{"directory", "is a directory, not a regular file", func(t *testing.T, path string) string {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			return path
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir())
			named := tc.make(t, cfg.Path)
			type result struct {
				tl  *Tailer
				err error
			}
			done := make(chan result, 1)
			go func() {
				tl, err := New(t.Context(), cfg, checkpoint.Position{}, time.Time{}, zerolog.New(zerolog.NewTestWriter(t)))
				done <- result{tl, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				unblockFIFO(cfg.Path)
				t.Fatal("New has not returned: it blocked opening the path")
			}
			if r.err == nil {
				r.tl.Close()
				t.Fatal("New accepted a path that is not a regular file")
			}
			if msg := r.err.Error(); !strings.Contains(msg, named+" "+tc.want) {
				t.Fatalf("error %q; want it to say %q", msg, named+" "+tc.want)
			}
		})
	}
}

func TestPathSwappedToFIFOAfterStart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	appendFile(t, cfg.Path, "one\n")
	var logs agenttest.Buffer
	tl, err := New(t.Context(), cfg, checkpoint.Position{}, time.Time{},
		zerolog.New(zerolog.MultiLevelWriter(zerolog.NewTestWriter(t), &logs)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	if l := next(t, tl); string(l.Text) != "one" {
		t.Fatalf("got %q", l.Text)
	}
	// The file is removed and a named pipe put in its place.
	os.Remove(cfg.Path)
	if err := syscall.Mkfifo(cfg.Path, 0o600); err != nil {
		t.Fatal(err)
	}
	// Several rounds of waiting: the pipe is never opened (an open would block
	// for want of a writer), and it is reported once.
	for range 3 {
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			_, err := nextWithin(ctx, tl)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Next: %v; want it to wait", err)
			}
		case <-time.After(10 * time.Second):
			unblockFIFO(cfg.Path)
			t.Fatal("Next has not returned: it blocked opening the named pipe")
		}
	}
	if n := strings.Count(logs.String(), "is a named pipe (FIFO), not a regular file"); n != 1 {
		t.Fatalf("the named pipe was reported %d times, want once; log:\n%s", n, logs.String())
	}
	// A regular file comes back: it is followed from its start.
	os.Remove(cfg.Path)
	appendFile(t, cfg.Path, "two\n")
	if l := next(t, tl); string(l.Text) != "two" || l.Start != 0 || l.Source != cfg.Path {
		t.Fatalf("got %q at %d from %s", l.Text, l.Start, l.Source)
	}
}

// countingReader is the tailer's source wrapped to count the bytes read
// through it, by Read and by ReadAt, and to cancel a context at the first Read.
type countingReader struct {
	f      *os.File
	cancel context.CancelFunc
	n      atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.f.Read(p)
	c.n.Add(int64(k))
	c.cancel()
	return k, err
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	k, err := c.f.ReadAt(p, off)
	c.n.Add(int64(k))
	return k, err
}

// TestNextCancelledInLongLineWithoutNewline reads a 4 GiB sparse file, one
// line of zeros without a newline, and cancels after the first read: Next
// stops at once, neither reading on nor searching ahead for the newline.
func TestNextCancelledInLongLineWithoutNewline(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.MaxLineBytes = 64 << 20 // the newline is searched for this far ahead
	appendFile(t, cfg.Path, "")
	if err := os.Truncate(cfg.Path, 4<<30); err != nil {
		t.Fatal(err)
	}
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	src := &countingReader{f: tl.cur.f, cancel: cancel}
	tl.cur.src = src
	_, err := tl.Next(ctx)
	if err != context.Canceled {
		t.Fatalf("Next: %v; want %v", err, context.Canceled)
	}
	if n := src.n.Load(); n > readBufSize {
		t.Fatalf("%d bytes read after the context was cancelled in the first read of %d", n, readBufSize)
	}
}

// countdownCtx is a context whose Err reports cancellation from its n-th
// call on: it stops a loop that checks its context after an exact number of
// rounds, whatever the machine's speed.
type countdownCtx struct {
	context.Context
	left  atomic.Int64
	calls atomic.Int64
}

func countdown(n int64) *countdownCtx {
	c := &countdownCtx{Context: context.Background()}
	c.left.Store(n)
	return c
}

func (c *countdownCtx) Err() error {
	c.calls.Add(1)
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestStartAtEndCancelledInHugeFile: with start_at end, New looks back for
// the last newline of a 4 GiB file that has none; it stops when ctx ends.
func TestStartAtEndCancelledInHugeFile(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.StartAt = StartEnd
	appendFile(t, cfg.Path, "")
	if err := os.Truncate(cfg.Path, 4<<30); err != nil {
		t.Fatal(err)
	}
	tl, err := New(countdown(10), cfg, checkpoint.Position{}, time.Time{}, zerolog.New(zerolog.NewTestWriter(t)))
	if err == nil {
		tl.Close()
		t.Fatal("New read the whole file although its context ended")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("New: %v; want %v", err, context.Canceled)
	}
}

// gzipBomb writes a gzip file of a few MiB that decompresses to size bytes
// of zeros: one member of 1 MiB, repeated (gzip readers read concatenated
// members as one stream, RFC 1952 section 2.2).
func gzipBomb(t *testing.T, path string, size int64) {
	t.Helper()
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range size >> 20 {
		if _, err := f.Write(member.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGzipBombCancelled(t *testing.T) {
	dir := t.TempDir()
	tl := newTailer(t, testConfig(t, dir), checkpoint.Position{}, time.Time{})
	t.Run("verify", func(t *testing.T) {
		bomb := filepath.Join(dir, "audit-2026-11-21T10-00-00.000.log.gz")
		gzipBomb(t, bomb, 4<<30)
		f, err := os.Open(bomb)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := verifyGzip(countdown(100), f); err != context.Canceled {
			t.Fatalf("verifyGzip: %v; want %v", err, context.Canceled)
		}
		// Opened as a backup, it is not taken for a corrupt file.
		if _, _, err := tl.openBackup(countdown(100), bomb, true, time.Time{}, 0); err != context.Canceled {
			t.Fatalf("openBackup: %v; want %v", err, context.Canceled)
		}
	})
	t.Run("skip to offset", func(t *testing.T) {
		gz := filepath.Join(dir, "audit-2026-11-21T10-00-01.000.log.gz")
		gzipBomb(t, gz, 64<<20)
		// The checks the whole verification makes, then a few more: the
		// context ends while skipping to the offset.
		count := countdown(1 << 62)
		f, _, err := tl.openBackup(count, gz, true, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.f.Close()
		if _, _, err := tl.openBackup(countdown(count.calls.Load()+2), gz, true, time.Time{}, 60<<20); err != context.Canceled {
			t.Fatalf("openBackup at an offset: %v; want %v", err, context.Canceled)
		}
	})
}
