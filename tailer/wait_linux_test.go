package tailer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
)

// nextNoWait calls Next with a context that never ends and fails the test
// unless it returns io.EOF, and within a bound: Next never waits.
func nextNoWait(t *testing.T, tl *Tailer, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := tl.Next(t.Context())
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("%s: Next returned %v; want io.EOF", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Next has not returned after 10s: it waits instead of returning io.EOF", what)
	}
}

// TestNextReturnsEOFWithoutWaiting: whenever no complete line is ready,
// Next returns io.EOF at once, without waiting for the log to change: the
// log does not exist yet, the file was read to its end, an unterminated
// line, the unterminated end of a rotated file given time to be completed.
func TestNextReturnsEOFWithoutWaiting(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.PollInterval = 10 * time.Second // what Next would wait for
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	nextNoWait(t, tl, "no file yet")

	appendFile(t, cfg.Path, "a\n")
	if l := next(t, tl); string(l.Text) != "a" {
		t.Fatalf("got %q", l.Text)
	}
	nextNoWait(t, tl, "file read to its end")
	appendFile(t, cfg.Path, "unterminated")
	nextNoWait(t, tl, "an unterminated line")

	backup := filepath.Join(dir, "audit-2026-11-21T10-00-00.000.log")
	if err := os.Rename(cfg.Path, backup); err != nil {
		t.Fatal(err)
	}
	appendFile(t, cfg.Path, "b\n")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := tl.Wait(ctx); err != nil { // sees the rename
		t.Fatal(err)
	}
	nextNoWait(t, tl, "the unterminated end of a rotated file, within its grace")
	if tl.cur == nil || tl.cur.live || !tl.lr.pending() {
		t.Fatal("the rotation was not seen, or the unterminated end was handed out early")
	}
}

// TestWaitReturnsOnCancel: Wait returns ctx.Err() as soon as ctx ends,
// while it waits for a change and while it lingers after one, long before
// the poll interval or the linger would end it.
func TestWaitReturnsOnCancel(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.PollInterval = 10 * time.Second
	cfg.Linger = time.Second
	appendFile(t, cfg.Path, "a\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	next(t, tl)
	if _, err := tl.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: %v; want io.EOF", err)
	}

	waitFor := func(what string, ctx context.Context, want error) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- tl.Wait(ctx) }()
		select {
		case err := <-done:
			if !errors.Is(err, want) {
				t.Fatalf("%s: Wait returned %v; want %v", what, err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Wait has not returned 5s after its context ended (poll interval 10s)", what)
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	waitFor("context already cancelled", ctx, context.Canceled)

	ctx, cancel = context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	waitFor("deadline while waiting", ctx, context.DeadlineExceeded)

	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	waitFor("cancelled while waiting", ctx, context.Canceled)

	// A change makes the log busy: the next Wait lingers first, and is
	// cancelled while it does.
	appendFile(t, cfg.Path, "b\n")
	waitFor("a write", t.Context(), nil)
	if l := next(t, tl); string(l.Text) != "b" {
		t.Fatalf("got %q after the write", l.Text)
	}
	appendFile(t, cfg.Path, "c\n")
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	waitFor("cancelled while lingering", ctx, context.Canceled)
	if l := next(t, tl); string(l.Text) != "c" {
		t.Fatalf("got %q after the cancelled Wait", l.Text)
	}
}

// TestWaitIgnoresWritesToOtherFiles: writes to another file in the
// directory (lumberjack writing a .gz backup, another log) do not end Wait;
// a write to the live file does.
func TestWaitIgnoresWritesToOtherFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.PollInterval = 10 * time.Second // so that only inotify ends Wait in this test
	cfg.Linger = 0
	other := filepath.Join(dir, "other.log")
	appendFile(t, cfg.Path, "a\n")
	appendFile(t, other, "x")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	next(t, tl)
	if _, err := tl.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: %v; want io.EOF", err)
	}
	if tl.Stats().Polling {
		t.Fatal("inotify unavailable; this test needs it")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tl.Wait(ctx) }()
	f, err := os.OpenFile(other, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, err := f.WriteString("compressed bytes"); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	select {
	case err := <-done:
		t.Fatalf("Wait returned (%v) after writes to another file in the directory", err)
	case <-time.After(300 * time.Millisecond):
	}
	appendFile(t, cfg.Path, "b\n")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait has not returned 5s after a write to the live file (poll interval 10s)")
	}
	if l, err := tl.Next(ctx); err != nil || string(l.Text) != "b" {
		t.Fatalf("Next after Wait: %q, %v; want \"b\"", l.Text, err)
	}
}

// TestLingerMakesOneBatch: after a quiet spell, the first write ends Wait
// at once; the log is then busy, and writes made while the next Wait
// lingers are all returned by the Next calls that follow that one Wait,
// with their exact offsets, before Next returns io.EOF.
func TestLingerMakesOneBatch(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.PollInterval = 10 * time.Second
	cfg.Linger = time.Hour // a Wait that lingered now would not return within the test
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	if _, err := tl.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: %v; want io.EOF", err)
	}
	appendFile(t, cfg.Path, "first\n")
	done := make(chan error, 1)
	go func() { done <- tl.Wait(t.Context()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Wait did not return for the first write after a quiet spell: it lingered")
	}
	tl.cfg.Linger = time.Second
	if l := next(t, tl); string(l.Text) != "first" {
		t.Fatalf("got %q", l.Text)
	}
	if _, err := tl.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: %v; want io.EOF", err)
	}

	type result struct {
		lines []Line
		err   error
	}
	got := make(chan result, 1)
	go func() { // the caller: one Wait, then Next until io.EOF
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		var r result
		if r.err = tl.Wait(ctx); r.err != nil {
			got <- r
			return
		}
		for {
			l, err := tl.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.err = err
				break
			}
			l.Text = bytes.Clone(l.Text)
			r.lines = append(r.lines, l)
		}
		got <- r
	}()
	// Three writes, 50ms apart: all within the second Wait lingers after the first.
	want := []string{"one", "two", "three"}
	for i, w := range want {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		appendFile(t, cfg.Path, w+"\n")
	}
	var r result
	select {
	case r = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("no batch after 20s")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	var texts []string
	for _, l := range r.lines {
		texts = append(texts, string(l.Text))
	}
	if len(r.lines) != len(want) {
		t.Fatalf("one Wait gave %q; want %q: the writes made while it lingered", texts, want)
	}
	off := int64(len("first\n"))
	for i, l := range r.lines {
		end := off + int64(len(want[i])) + 1
		if string(l.Text) != want[i] || l.Start != off || l.Pos.Offset != end || l.Partial {
			t.Fatalf("line %d: %q at %d, offset %d; want %q at %d, offset %d", i, l.Text, l.Start, l.Pos.Offset, want[i], off, end)
		}
		off = end
	}
}

// goroutinesAtMost fails the test unless the number of goroutines comes
// down to at most n within a bound (one that is ending may still count).
func goroutinesAtMost(t *testing.T, n int, when string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%s: %d goroutines, %d before New: the tailer runs goroutines of its own\n%s",
				when, runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNoGoroutineOfItsOwn: the tailer starts no goroutine, neither to
// watch the directory nor to wait, and none is left after Close.
func TestNoGoroutineOfItsOwn(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.PollInterval = 10 * time.Second
	appendFile(t, cfg.Path, "a\n")
	before := runtime.NumGoroutine()
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	if tl.Stats().Polling {
		t.Fatal("inotify unavailable; this test needs it")
	}
	goroutinesAtMost(t, before, "after New")
	next(t, tl)
	if _, err := tl.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: %v; want io.EOF", err)
	}
	appendFile(t, cfg.Path, "b\n")
	if err := tl.Wait(t.Context()); err != nil { // woken by inotify
		t.Fatalf("Wait: %v", err)
	}
	goroutinesAtMost(t, before, "after a Wait")
	if l := next(t, tl); string(l.Text) != "b" {
		t.Fatalf("got %q", l.Text)
	}
	if _, err := tl.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: %v; want io.EOF", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := tl.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v; want %v", err, context.DeadlineExceeded)
	}
	goroutinesAtMost(t, before, "after a Wait ended by its context")
	tl.Close()
	goroutinesAtMost(t, before, "after Close")
}

// TestSteadyStateBatchCalls holds a batch at the end of the live file to
// its system calls: one read (a short read is the end of the file), one
// pread of the first line (after the read: the copytruncate check), one
// fstat, and no stat of the path while inotify reports only writes to the
// live file. A rotation, which inotify reports as a change in the
// directory, is still seen long before the poll interval.
func TestSteadyStateBatchCalls(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.PollInterval = 10 * time.Second
	cfg.Linger = 0
	appendFile(t, cfg.Path, "first\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	next(t, tl)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := tl.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: %v; want io.EOF", err)
	}
	if tl.Stats().Polling {
		t.Fatal("inotify unavailable; this test needs it")
	}
	for round := range 3 {
		calls, reads := tl.calls, tl.lr.reads
		appendFile(t, cfg.Path, "line\n")
		if err := tl.Wait(ctx); err != nil {
			t.Fatalf("round %d: Wait: %v", round, err)
		}
		if l, err := tl.Next(ctx); err != nil || string(l.Text) != "line" {
			t.Fatalf("round %d: Next: %q, %v", round, l.Text, err)
		}
		if _, err := tl.Next(ctx); !errors.Is(err, io.EOF) {
			t.Fatalf("round %d: Next: %v; want io.EOF", round, err)
		}
		got := callCounts{fstat: tl.calls.fstat - calls.fstat, pread: tl.calls.pread - calls.pread, stat: tl.calls.stat - calls.stat}
		if n := tl.lr.reads - reads; n != 1 || got != (callCounts{fstat: 1, pread: 1}) {
			t.Fatalf("round %d: a batch made %d reads, %+v; want 1 read, 1 fstat, 1 pread, no stat", round, n, got)
		}
	}
	stats := tl.calls.stat
	if err := os.Rename(cfg.Path, filepath.Join(dir, "audit-2026-11-21T10-00-00.000.log")); err != nil {
		t.Fatal(err)
	}
	appendFile(t, cfg.Path, "after\n")
	l, err := nextWithin(ctx, tl)
	if err != nil || string(l.Text) != "after" || l.Source != cfg.Path {
		t.Fatalf("after the rotation: %q from %s, %v; want \"after\" from the new file within 5s (poll interval 10s)", l.Text, l.Source, err)
	}
	if tl.calls.stat == stats {
		t.Fatal("the rotation was followed without a stat of the path")
	}
}

// TestWatchComesBackWithTheDirectory: the directory removed (or moved
// away) takes its watch with it, and the tailer polls; once a directory is
// back at the path, Wait watches it again.
func TestWatchComesBackWithTheDirectory(t *testing.T) {
	for _, how := range []string{"removed", "moved"} {
		t.Run(how, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "logs")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(t, dir)
			cfg.PollInterval = 100 * time.Millisecond
			appendFile(t, cfg.Path, "a\n")
			tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
			next(t, tl)
			if tl.Stats().Polling {
				t.Fatal("inotify unavailable; this test needs it")
			}
			var err error
			if how == "removed" {
				err = os.RemoveAll(dir)
			} else {
				err = os.Rename(dir, filepath.Join(root, "moved"))
			}
			if err != nil {
				t.Fatal(err)
			}
			until := func(what string, cond func() bool) {
				t.Helper()
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				for !cond() {
					if _, err := tl.Next(ctx); err != nil && !errors.Is(err, io.EOF) {
						t.Fatalf("Next: %v", err)
					}
					if err := tl.Wait(ctx); err != nil {
						t.Fatalf("not %s after 5s", what)
					}
				}
			}
			until("polling once the directory is gone", func() bool { return tl.Stats().Polling })
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			appendFile(t, cfg.Path, "b\n")
			if l := next(t, tl); string(l.Text) != "b" || l.Start != 0 {
				t.Fatalf("got %q at %d; want the new file's first line", l.Text, l.Start)
			}
			until("watching the directory again", func() bool { return !tl.Stats().Polling })
		})
	}
}
