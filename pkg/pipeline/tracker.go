package pipeline

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/internal/fifo"
)

// marker records how far the file has been handled.
type marker interface {
	Mark(checkpoint.Position)
}

// Tracker holds the checkpoint positions of the lines whose messages the
// server has not confirmed yet, in the order of the file, and marks in the
// checkpoint the newest position whose messages are all confirmed (a line
// that gave no message, a blank one, waits for the messages before it).
// It is what joins the pipeline, which sends, to the shipper, which
// confirms: build it first, give Confirm to the shipper and the Tracker to
// the pipeline. Its methods are safe for concurrent use.
type Tracker struct {
	ckpt marker

	mu           sync.Mutex
	pending      fifo.Queue[pendingPos] // positions waiting for their messages' confirmation
	lastSeq      uint64                 // sequence number of the last message sent
	confirmedSeq uint64                 // highest sequence number confirmed

	confirmedCount atomic.Uint64
	lastConfirmed  atomic.Int64 // Unix nanoseconds; 0 before the first confirmation
}

// pendingPos is a position that can be marked once every message up to seq
// is confirmed.
type pendingPos struct {
	seq uint64
	pos checkpoint.Position
}

// NewTracker returns a Tracker that marks positions in ckpt.
func NewTracker(ckpt marker) *Tracker { return &Tracker{ckpt: ckpt} }

// Confirm is the shipper's callback: every message with a sequence number
// up to seq has been received by the server. It marks the newest position
// whose messages are all confirmed, once per call.
func (t *Tracker) Confirm(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq <= t.confirmedSeq {
		return
	}
	t.confirmedCount.Add(seq - t.confirmedSeq)
	t.confirmedSeq = seq
	t.lastConfirmed.Store(time.Now().UnixNano())
	var last checkpoint.Position
	n := 0
	for n < t.pending.Len() && t.pending.At(n).seq <= seq {
		last = t.pending.At(n).pos
		n++
	}
	if n > 0 {
		t.pending.Drop(n)
		t.ckpt.Mark(last)
	}
}

// sent queues the positions of the lines of a batch whose messages got the
// sequence numbers first..first+n-1 (n may be fewer than the batch's
// messages: the lines after the n-th message are left out), with the blank
// lines among and after them. A position whose messages are all confirmed
// already (the confirmation came first, or a blank line after everything
// was) is marked at once. first must follow the last sequence number
// given.
func (t *Tracker) sent(first uint64, n int, lines []batchLine) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	seq := t.lastSeq
	if n > 0 {
		if first != t.lastSeq+1 { // a bug, which would mark positions past messages not received
			return fmt.Errorf("pipeline: the shipper numbered a batch from %d, expected %d", first, t.lastSeq+1)
		}
		t.lastSeq = first + uint64(n) - 1
	}
	taken := 0
	var last *checkpoint.Position
	for i := range lines {
		l := &lines[i]
		if l.msg {
			if taken == n {
				break
			}
			taken++
			seq++
		}
		if t.pending.Len() == 0 && seq <= t.confirmedSeq {
			last = &l.pos // nothing waits before it: mark it now
			continue
		}
		t.pending.Push(pendingPos{seq: seq, pos: l.pos})
	}
	if last != nil {
		t.ckpt.Mark(*last)
	}
	return nil
}

// TrackerStats are the Tracker's counters.
type TrackerStats struct {
	Confirmed     uint64    // messages confirmed by the server
	LastConfirmed time.Time // when the last confirmation came; zero before the first
}

// Stats returns a snapshot of the counters.
func (t *Tracker) Stats() TrackerStats {
	s := TrackerStats{Confirmed: t.confirmedCount.Load()}
	if ns := t.lastConfirmed.Load(); ns != 0 {
		s.LastConfirmed = time.Unix(0, ns)
	}
	return s
}
