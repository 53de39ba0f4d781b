package spool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/rs/zerolog"
)

// TestPruneFollowsDurableCheckpoint prunes with the real checkpoint store,
// marked with the positions the real tailer hands out: nothing is deleted
// while the store has not written twice (Durable is zero); then the
// backups rotated before the file Durable names go, that file stays, and
// a restart from Durable still reads every line after it; once Durable is
// in the live file, every backup goes, and the live file stays.
func TestPruneFollowsDurableCheckpoint(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 50, MaxBytes: 1 << 20}
	store, err := checkpoint.Open(checkpoint.Config{Path: cfg.CheckpointPath(), FlushInterval: time.Second}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	s := openSpool(t, cfg, store)
	// The tailer starts with the spool, as in the agent: a first start
	// reads the live file from its beginning and no older backup.
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	for i := range 5 {
		mustAppend(t, s, tenByteLines(3*i, 3)) // each rotates but the first
	}
	files := spoolFiles(t, cfg.Dir) // 4 backups and the live file, 30 bytes each
	if len(files) != 5 {
		t.Fatalf("files %q", files)
	}
	lines := readLines(t, tl, 15)
	exists := func(want ...bool) {
		t.Helper()
		for i, f := range files {
			_, err := os.Stat(f)
			if got := err == nil; got != want[i] {
				t.Fatalf("%s exists: %v, want %v", filepath.Base(f), got, want[i])
			}
		}
	}
	flush := func(p checkpoint.Position) {
		t.Helper()
		store.Mark(p)
		if err := store.Flush(); err != nil {
			t.Fatal(err)
		}
	}

	flush(lines[7].Pos) // in the third file
	if !store.Durable().IsZero() {
		t.Fatalf("Durable after one write: %+v", store.Durable())
	}
	if err := s.prune(); err != nil {
		t.Fatal(err)
	}
	exists(true, true, true, true, true)

	flush(lines[10].Pos) // in the fourth file: Durable is lines[7].Pos
	if store.Durable() != lines[7].Pos {
		t.Fatalf("Durable %+v, want %+v", store.Durable(), lines[7].Pos)
	}
	if err := s.prune(); err != nil {
		t.Fatal(err)
	}
	exists(false, false, true, true, true)
	if st := s.Stats(); st.RemovedFiles != 2 || st.RemovedBytes != 60 || st.Files != 3 || st.Bytes != 90 {
		t.Fatalf("stats %+v", st)
	}
	// A restart falling back to Durable finds everything it reads next.
	tl = newTailer(t, cfg, store.Durable(), time.Now())
	for i, l := range readLines(t, tl, 7) {
		if want := lines[8+i]; string(l.Text) != string(want.Text) || l.Pos != want.Pos {
			t.Fatalf("after restart, line %d: %q at %+v, want %q at %+v", i, l.Text, l.Pos, want.Text, want.Pos)
		}
	}
	if ts := tl.Stats(); ts.LostFiles != 0 || ts.LostBytes != 0 {
		t.Fatalf("the restart lost files: %+v", ts)
	}

	flush(lines[13].Pos)
	flush(lines[14].Pos) // Durable is lines[13].Pos, in the live file
	if err := s.prune(); err != nil {
		t.Fatal(err)
	}
	exists(false, false, false, false, true)
	if st := s.Stats(); st.RemovedFiles != 4 || st.RemovedBytes != 120 || st.Files != 1 || st.Bytes != 30 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := os.Stat(cfg.CheckpointPath()); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
}

// TestPruneDeletesNothingWhenDurableNamesNoSpoolFile: a durable position
// in a file that is not the spool's, or in a spool file by inode whose
// content does not match the fingerprint, deletes nothing.
func TestPruneDeletesNothingWhenDurableNamesNoSpoolFile(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 10, MaxBytes: 1 << 20}
	pos := &fakePositions{}
	s := openSpool(t, cfg, pos)
	for i := range 3 {
		mustAppend(t, s, tenByteLines(i, 1))
	}
	other := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(other, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pos.setDurable(posIn(t, other, 2))
	if err := s.prune(); err != nil {
		t.Fatal(err)
	}
	d := posIn(t, cfg.LivePath(), 10)
	d.Fingerprint, d.FingerprintLen = strings.Repeat("0", 64), 9
	pos.setDurable(d)
	if err := s.prune(); err == nil || !strings.Contains(err.Error(), "not by content") {
		t.Fatalf("prune with a fingerprint that does not match: %v", err)
	}
	if st := s.Stats(); st.Files != 3 || st.RemovedFiles != 0 || len(spoolFiles(t, cfg.Dir)) != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRunPrunesAfterRotationAndEachSecond runs Run on fake time: a
// rotation makes it prune at once, the ticker every second; a file it
// cannot remove is reported once however many times it tries, then its
// recovery once.
func TestRunPrunesAfterRotationAndEachSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Dir: t.TempDir(), FileBytes: 10, MaxBytes: 1 << 20}
		pos := &fakePositions{}
		var logs lockedBuffer
		s := openSpoolLog(t, cfg, pos, zerolog.New(&logs))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		removed := func() uint64 { synctest.Wait(); return s.Stats().RemovedFiles }

		mustAppend(t, s, tenByteLines(0, 1)) // file A
		mustAppend(t, s, tenByteLines(1, 1)) // A rotated; B
		a := spoolFiles(t, cfg.Dir)[0]
		pos.setDurable(posIn(t, cfg.LivePath(), 10)) // in B
		start := time.Now()
		mustAppend(t, s, tenByteLines(2, 1)) // B rotated, C: Run prunes A at once
		if n := removed(); n != 1 || time.Since(start) != 0 {
			t.Fatalf("%d files removed after %s, want 1 at once", n, time.Since(start))
		}
		if _, err := os.Stat(a); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: %v", a, err)
		}

		// B cannot be removed: something put a directory holding a file in its place.
		b := spoolFiles(t, cfg.Dir)[0]
		if err := os.Remove(b); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(b, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		pos.setDurable(posIn(t, cfg.LivePath(), 10)) // in C
		time.Sleep(5 * pruneInterval)
		if n := removed(); n != 1 {
			t.Fatalf("%d files removed, want 1", n)
		}
		if n := strings.Count(logs.String(), "spool pruning failed"); n != 1 {
			t.Fatalf("the failure was logged %d times, want once:\n%s", n, logs.String())
		}
		if err := os.Remove(filepath.Join(b, "x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(pruneInterval)
		if n := removed(); n != 2 {
			t.Fatalf("%d files removed, want 2", n)
		}
		if n := strings.Count(logs.String(), "spool pruning recovered"); n != 1 {
			t.Fatalf("the recovery was logged %d times, want once:\n%s", n, logs.String())
		}
		if st := s.Stats(); st.Files != 1 || st.Bytes != 10 {
			t.Fatalf("stats %+v", st)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
	})
}
