package pipeline

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/internal/fifo"
)

// Marker records how far one source has been handled (a
// *checkpoint.Store).
type Marker interface {
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
	ckpts []Marker // ckpts[i] marks the positions of source i

	// last and moved are Confirm's and sent's scratch: per source, the
	// newest position to mark.
	last  []checkpoint.Position
	moved []bool

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
	in  uint8 // its source
}

// NewTracker returns a Tracker that marks the positions of the pipeline's
// i-th source in ckpts[i]. Each checkpoint is marked in the order of its
// source's lines.
func NewTracker(ckpts ...Marker) *Tracker {
	return &Tracker{ckpts: ckpts, last: make([]checkpoint.Position, len(ckpts)), moved: make([]bool, len(ckpts))}
}

// markMoved marks the positions collected in last, and clears moved.
// Called with mu held.
func (t *Tracker) markMoved() {
	for i, m := range t.moved {
		if m {
			t.ckpts[i].Mark(t.last[i])
			t.moved[i] = false
		}
	}
}

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
	n := 0
	for n < t.pending.Len() && t.pending.At(n).seq <= seq {
		pp := t.pending.At(n)
		t.last[pp.in], t.moved[pp.in] = pp.pos, true
		n++
	}
	if n > 0 {
		t.pending.Drop(n)
		t.markMoved()
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
	for i := range lines {
		l := &lines[i]
		if l.msg {
			if taken == n {
				break
			}
			taken++
			seq++
		}
		if int(l.in) >= len(t.ckpts) {
			return fmt.Errorf("pipeline: a line of source %d, but %d checkpoints", l.in, len(t.ckpts))
		}
		if t.pending.Len() == 0 && seq <= t.confirmedSeq {
			t.last[l.in], t.moved[l.in] = l.pos, true // nothing waits before it: mark it now
			continue
		}
		t.pending.Push(pendingPos{seq: seq, pos: l.pos, in: l.in})
	}
	t.markMoved()
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
