package spool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/tailer"
)

// newTailer follows the spool's live file with audittail's tailer, as the
// agent does: from the beginning, at start, or from start.
func newTailer(t *testing.T, cfg Config, start checkpoint.Position, savedAt time.Time) *tailer.Tailer {
	t.Helper()
	tc := tailer.Config{Path: cfg.LivePath(), StartAt: tailer.StartBeginning, PollInterval: 20 * time.Millisecond}
	tc.SetDefaults()
	if err := tc.Validate(); err != nil {
		t.Fatal(err)
	}
	tl, err := tailer.New(t.Context(), tc, start, savedAt, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	return tl
}

// readLines reads n lines from tl as the agent does (Next, and Wait when
// Next returns io.EOF), with their text copied. The deadline only keeps a
// failing test from hanging; no assertion depends on time.
func readLines(t *testing.T, tl *tailer.Tailer, n int) []tailer.Line {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out []tailer.Line
	for len(out) < n {
		l, err := tl.Next(ctx)
		if errors.Is(err, io.EOF) {
			if err := tl.Wait(ctx); err != nil {
				t.Fatalf("Wait after %d of %d lines: %v", len(out), n, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Next after %d of %d lines: %v", len(out), n, err)
		}
		l.Text = bytes.Clone(l.Text)
		out = append(out, l)
	}
	return out
}

// TestTailerReadsEveryLineOnce is the spool end to end with the real
// tailer: batches appended from many goroutines, with a rotation every few
// batches, are read while they are written, and every line comes exactly
// once, whole batches in the order they landed, generation after
// generation in the order the files were written, at the exact offsets
// the files on disk hold.
func TestTailerReadsEveryLineOnce(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 4096, MaxBytes: 1 << 30}
	s := openSpool(t, cfg, &fakePositions{})
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})

	const writers, batches = 8, 60
	want := 0
	for w := range writers {
		for b := range batches {
			want += bytes.Count(testBatch(w, b), []byte("\n"))
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				if err := s.Append(testBatch(w, b)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	got := readLines(t, tl, want)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if l, err := tl.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Fatalf("a line more than was appended: %q, %v", l.Text, err)
	}

	// Offsets: within a file each line starts where the last ended; files
	// come one after the other, never again once left.
	var texts []string
	var inodes []uint64
	ends := map[uint64]int64{}
	content := map[uint64][]byte{}
	for i, l := range got {
		if l.Partial || l.Truncated {
			t.Fatalf("line %d flagged partial %v truncated %v", i, l.Partial, l.Truncated)
		}
		ino := l.Pos.Inode
		if len(inodes) == 0 || inodes[len(inodes)-1] != ino {
			if _, seen := ends[ino]; seen {
				t.Fatalf("line %d: back in a file left before (inode %d)", i, ino)
			}
			inodes = append(inodes, ino)
		}
		if l.Start != ends[ino] || l.Size != int64(len(l.Text)) || l.Pos.Offset != l.Start+int64(len(l.Text))+1 {
			t.Fatalf("line %d: start %d size %d end %d, want start %d (text %d bytes)", i, l.Start, l.Size, l.Pos.Offset, ends[ino], len(l.Text))
		}
		ends[ino] = l.Pos.Offset
		content[ino] = append(append(content[ino], l.Text...), '\n')
		texts = append(texts, string(l.Text)+"\n")
	}
	checkBatches(t, texts, writers, batches)

	// The files on disk, in the order they were written, are the files
	// read, in that order, and hold exactly the lines read from them.
	files := spoolFiles(t, cfg.Dir)
	if len(files) != len(inodes) {
		t.Fatalf("%d files on disk, lines came from %d", len(files), len(inodes))
	}
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if k := keyOf(fi); k.ino != inodes[i] {
			t.Fatalf("file %d, %s, is inode %d; the lines read came from inode %d", i, f, k.ino, inodes[i])
		}
		if disk := readFile(t, f); disk != string(content[inodes[i]]) {
			t.Fatalf("%s holds %d bytes; the lines read from it, %d", f, len(disk), len(content[inodes[i]]))
		}
	}
	st := s.Stats()
	if st.Rotations != uint64(len(files)-1) || st.Rotations < 20 || st.Files != len(files) {
		t.Fatalf("stats %+v with %d files", st, len(files))
	}
	if ts := tl.Stats(); ts.LostFiles != 0 || ts.LostBytes != 0 || ts.Truncations != 0 {
		t.Fatalf("tailer stats %+v", ts)
	}
}
