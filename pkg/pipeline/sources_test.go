package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/pkg/gelf"
	"github.com/audittail/audittail/tailer"
	"github.com/rs/zerolog"
)

// twoLogs starts a pipeline over two real logs, a (with na events) and b
// (with nb), each tracked in its own marks.
func twoLogs(t *testing.T, na, nb int) (p *Pipeline, tr *Tracker, rec *recorder, mks [2]*marks, paths [2]string, sizes [2]int64) {
	t.Helper()
	dir := t.TempDir()
	log := zerolog.New(zerolog.NewTestWriter(t))
	var srcs []Input
	for i, n := range []int{na, nb} {
		name := []string{"a", "b"}[i]
		var sb strings.Builder
		for j := range n {
			sb.WriteString(good(fmt.Sprintf("%s-%d", name, j)) + "\n")
		}
		paths[i] = filepath.Join(dir, name, "audit.log")
		if err := os.MkdirAll(filepath.Dir(paths[i]), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(paths[i], []byte(sb.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		sizes[i] = int64(sb.Len())
		tc := tailer.Config{Path: paths[i], PollInterval: 20 * time.Millisecond, MaxLineBytes: 1 << 20}
		tc.SetDefaults()
		tl, err := tailer.New(t.Context(), tc, checkpoint.Position{}, time.Time{}, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tl.Close() })
		srcs = append(srcs, Input{Source: tl, Log: paths[i]})
		mks[i] = &marks{}
	}
	gc := gelf.Config{Host: "node-1"}
	gc.SetDefaults()
	enc, err := gelf.NewEncoder(gc)
	if err != nil {
		t.Fatal(err)
	}
	rec = &recorder{got: make(chan struct{}, 1)}
	tr = NewTracker(mks[0], mks[1])
	p = New(srcs, nil, enc, rec, tr, log)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	return p, tr, rec, mks, paths, sizes
}

// Each source's positions go to its own checkpoint, in its own order,
// only once the messages before them are confirmed; a source in a large
// backlog does not hold the other back for more than one batch.
func TestSourcesTakeTurnsAndKeepTheirPositions(t *testing.T) {
	const na, nb = 5 * maxBatchMessages, 3
	_, tr, rec, mks, paths, sizes := twoLogs(t, na, nb)
	msgs := rec.waitFor(t, na+nb)

	// b's events come within the first two batches: a gets one batch, then
	// b's turn comes.
	firstB := -1
	for i, m := range msgs {
		if strings.HasPrefix(decode(t, m)["_auditID"].(string), "b-") {
			firstB = i
			break
		}
	}
	if firstB < 0 || firstB > maxBatchMessages {
		t.Fatalf("first event of b is message %d, want within the first batch of %d", firstB, maxBatchMessages)
	}
	// Each source's events in its own order.
	next := map[string]int{}
	for _, m := range msgs {
		d := decode(t, m)
		id := d["_auditID"].(string)
		name, n, _ := strings.Cut(id, "-")
		if want := paths[map[string]int{"a": 0, "b": 1}[name]]; d["_log"] != want {
			t.Fatalf("%s: _log %v, want %s", id, d["_log"], want)
		}
		if want := fmt.Sprint(next[name]); n != want {
			t.Fatalf("%s: event %s, want %s", name, n, want)
		}
		next[name]++
	}
	if _, n := mks[0].last(); n != 0 {
		t.Fatal("a's checkpoint moved before any confirmation")
	}

	// Confirming up to the first b event marks a up to the events before
	// it, and b only once its own event is confirmed.
	var aEnd int64 // the end of a's line firstB-1
	for j := range firstB {
		aEnd += int64(len(good(fmt.Sprintf("a-%d", j))) + 1)
	}
	tr.Confirm(uint64(firstB))
	if pos, _ := mks[0].last(); pos.Offset != aEnd || pos.Path != paths[0] {
		t.Fatalf("a marked at %s:%d, want %s:%d", pos.Path, pos.Offset, paths[0], aEnd)
	}
	if _, n := mks[1].last(); n != 0 {
		t.Fatal("b's checkpoint moved before its event was confirmed")
	}
	tr.Confirm(uint64(firstB + 1))
	if pos, _ := mks[1].last(); pos.Path != paths[1] || pos.Offset != int64(len(good("b-0"))+1) {
		t.Fatalf("b marked at %s:%d after its first event", pos.Path, pos.Offset)
	}
	tr.Confirm(uint64(na + nb))
	for i := range 2 {
		if pos, _ := mks[i].last(); pos.Path != paths[i] || pos.Offset != sizes[i] {
			t.Fatalf("source %d marked at %s:%d, want %s:%d", i, pos.Path, pos.Offset, paths[i], sizes[i])
		}
	}
}

// A line appended to the second source, while the pipeline waits on both,
// wakes it.
func TestWaitWakesOnAnySource(t *testing.T) {
	_, _, rec, _, paths, _ := twoLogs(t, 1, 1)
	rec.waitFor(t, 2)
	for i, path := range []string{paths[1], paths[0], paths[1]} {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(good(fmt.Sprintf("late-%d", i)) + "\n"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		msgs := rec.waitFor(t, 3+i)
		if id := decode(t, msgs[2+i])["_auditID"]; id != fmt.Sprintf("late-%d", i) {
			t.Fatalf("message %d is %v", 2+i, id)
		}
	}
}
