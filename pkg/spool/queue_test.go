package spool

import (
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/audittail/audittail/checkpoint"
)

// TestOldestUnshipped runs on fake time: OldestUnshipped is the append
// time of the oldest batch the confirmed position does not cover, within
// a file and across a rotation.
func TestOldestUnshipped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Dir: t.TempDir(), FileBytes: 100, MaxBytes: 1 << 20}
		pos := &fakePositions{}
		s := openSpool(t, cfg, pos)
		oldest := func(want time.Time) {
			t.Helper()
			if got := s.Stats().OldestUnshipped; !got.Equal(want) {
				t.Fatalf("OldestUnshipped %v, want %v", got, want)
			}
		}
		oldest(time.Time{})
		t0 := time.Now()
		mustAppend(t, s, tenByteLines(0, 3)) // A: 0-30
		time.Sleep(10 * time.Second)
		t1 := time.Now()
		mustAppend(t, s, tenByteLines(3, 3)) // A: 30-60
		oldest(t0)
		pos.setPosition(posIn(t, cfg.LivePath(), 29))
		oldest(t0)
		pos.setPosition(posIn(t, cfg.LivePath(), 30))
		oldest(t1)

		time.Sleep(10 * time.Second)
		t2 := time.Now()
		a := cfg.LivePath()
		aPos := posIn(t, a, 30)
		mustAppend(t, s, tenByteLines(6, 5)) // A rotated; B: 0-50
		oldest(t1)
		pos.setPosition(posIn(t, cfg.LivePath(), 0)) // in B, a newer file: all of A is confirmed
		oldest(t2)
		pos.setPosition(aPos) // an older position changes nothing
		oldest(t2)
		pos.setPosition(posIn(t, cfg.LivePath(), 50))
		oldest(time.Time{})
	})
}

// TestOldestUnshippedAtOpen: what the spool held when it was opened counts
// from the modification time of the oldest file holding some of it.
func TestOldestUnshippedAtOpen(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 100, MaxBytes: 1 << 20}
	backup := filepath.Join(cfg.Dir, "audit-2026-01-01T00-00-00.000.log")
	m1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m2 := m1.Add(time.Hour)
	for _, f := range []struct {
		path  string
		mtime time.Time
	}{{backup, m1}, {cfg.LivePath(), m2}} {
		if err := os.WriteFile(f.path, tenByteLines(0, 2), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f.path, f.mtime, f.mtime); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		pos  checkpoint.Position
		want time.Time
	}{
		{"no position", checkpoint.Position{}, m1},
		{"in the backup", posIn(t, backup, 10), m1},
		{"at the backup's end", posIn(t, backup, 20), m2},
		{"in the live file", posIn(t, cfg.LivePath(), 10), m2},
		{"at the live file's end", posIn(t, cfg.LivePath(), 20), time.Time{}},
	} {
		pos := &fakePositions{pos: tc.pos}
		s := openSpool(t, cfg, pos)
		if got := s.Stats().OldestUnshipped; !got.Equal(tc.want) {
			t.Errorf("%s: OldestUnshipped %v, want %v", tc.name, got, tc.want)
		}
		if tc.want.Equal(m2) {
			pos.setPosition(posIn(t, cfg.LivePath(), 20))
			if got := s.Stats().OldestUnshipped; !got.IsZero() {
				t.Errorf("%s, then all confirmed: OldestUnshipped %v", tc.name, got)
			}
		}
		s.Close()
	}
}

// TestQueueBounded: however many batches wait, the queue holds at most
// maxQueue entries; merging never makes the oldest time younger than the
// oldest batch not confirmed.
func TestQueueBounded(t *testing.T) {
	var u unshipped
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 3*maxQueue + 17
	for i := range n {
		u.push(entry{seq: 7, end: int64(i + 1), at: t0.Add(time.Duration(i) * time.Second)})
		if u.len() > maxQueue {
			t.Fatalf("%d entries after %d pushes", u.len(), i+1)
		}
	}
	if !u.oldest().Equal(t0) {
		t.Fatalf("oldest %v, want %v", u.oldest(), t0)
	}
	for _, off := range []int64{1, 100, 5000, n - 1} {
		u.confirm(7, off)
		// The batch appended at t0+off s is the oldest not confirmed.
		if truth := t0.Add(time.Duration(off) * time.Second); u.oldest().After(truth) || u.oldest().IsZero() {
			t.Fatalf("after confirming %d: oldest %v, later than the truth %v", off, u.oldest(), truth)
		}
	}
	u.confirm(8, 0) // a newer file
	if !u.oldest().IsZero() || u.len() != 0 {
		t.Fatalf("after confirming everything: oldest %v, %d entries", u.oldest(), u.len())
	}
}
