package pipeline

import (
	"testing"

	"github.com/audittail/audittail/checkpoint"
)

func pos(off int64) checkpoint.Position { return checkpoint.Position{Path: "/a", Offset: off} }

// TestTrackerMarksOnlyConfirmed walks the Tracker through the cases the
// pipeline meets: messages confirmed one by one and in runs, blank lines
// among and after messages, a batch of blank lines only, a confirmation
// that comes before the positions of its batch (a sender that wrote the
// batch itself), and a batch taken in part.
func TestTrackerMarksOnlyConfirmed(t *testing.T) {
	mk := &marks{}
	tr := NewTracker(mk)
	last := func() int64 { p, _ := mk.last(); return p.Offset }

	// Batch: m1 (10), blank (11), m2 (20), m3 (30), blank (31).
	if err := tr.sent(1, 3, []batchLine{{pos: pos(10), msg: true}, {pos: pos(11), msg: false}, {pos: pos(20), msg: true}, {pos: pos(30), msg: true}, {pos: pos(31), msg: false}}); err != nil {
		t.Fatal(err)
	}
	if _, n := mk.last(); n != 0 {
		t.Fatalf("marked before any confirmation")
	}
	tr.Confirm(1)
	if last() != 11 { // m1 and the blank line after it
		t.Fatalf("after 1: %d, want 11", last())
	}
	tr.Confirm(3)
	if last() != 31 {
		t.Fatalf("after 3: %d, want 31", last())
	}

	// Blank lines only, everything before confirmed: marked at once.
	if err := tr.sent(0, 0, []batchLine{{pos: pos(32), msg: false}, {pos: pos(33), msg: false}}); err != nil {
		t.Fatal(err)
	}
	if last() != 33 {
		t.Fatalf("blank lines: %d, want 33", last())
	}

	// The confirmation of 4 and 5 comes before their positions.
	tr.Confirm(5)
	if err := tr.sent(4, 2, []batchLine{{pos: pos(40), msg: true}, {pos: pos(50), msg: true}}); err != nil {
		t.Fatal(err)
	}
	if last() != 50 {
		t.Fatalf("confirmed first: %d, want 50", last())
	}

	// Only 2 of 3 messages taken: the third line's position is not queued.
	if err := tr.sent(6, 2, []batchLine{{pos: pos(60), msg: true}, {pos: pos(70), msg: true}, {pos: pos(80), msg: true}}); err != nil {
		t.Fatal(err)
	}
	tr.Confirm(7)
	if last() != 70 {
		t.Fatalf("batch taken in part: %d, want 70", last())
	}
	if st := tr.Stats(); st.Confirmed != 7 || st.LastConfirmed.IsZero() {
		t.Fatalf("stats %+v", st)
	}

	// Out of sequence numbering is a bug, refused.
	if err := tr.sent(10, 1, []batchLine{{pos: pos(90), msg: true}}); err == nil {
		t.Fatal("a batch numbered from 10 after 7 was accepted")
	}
}
