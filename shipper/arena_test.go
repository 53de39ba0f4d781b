package shipper

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestArenaFramesNeverOverlap drives the arena like the window does: frames
// of random sizes (some larger than arenaMaxFrame) taken, each filled with
// its own byte, and released oldest first while the window stays under a
// bound. After every step each live frame must still hold its byte, and
// the blocks in use must stay within what the live bytes need.
func TestArenaFramesNeverOverlap(t *testing.T) {
	type live struct {
		frame  []byte
		fill   byte
		pooled bool
	}
	var (
		a      = arena{keep: 3}
		window []live
		bytesN int
	)
	r := rand.New(rand.NewPCG(1, 2))
	const bound = 3 << 20
	check := func(step int) {
		for _, l := range window {
			for i, c := range l.frame {
				if c != l.fill {
					t.Fatalf("step %d: frame filled with %d holds %d at byte %d", step, l.fill, c, i)
				}
			}
		}
		// Each block but the last is filled past arenaBlockSize -
		// arenaMaxFrame with frames taken after the oldest live one:
		// the live bytes bound the blocks.
		if max := bytesN/(arenaBlockSize-arenaMaxFrame) + 2; len(a.used) > max {
			t.Fatalf("step %d: %d blocks in use for %d live bytes", step, len(a.used), bytesN)
		}
		if len(a.free) > max(a.keep, arenaIdleSpare) {
			t.Fatalf("step %d: %d spare blocks", step, len(a.free))
		}
	}
	for step := range 30000 {
		if bytesN < bound && r.IntN(3) > 0 {
			n := 1 + r.IntN(4096)
			if r.IntN(100) == 0 {
				n = arenaMaxFrame - 2 + r.IntN(5) // around the limit
			}
			f, pooled := a.take(n)
			if len(f) != n || cap(f) != n {
				t.Fatalf("take(%d) gave len %d cap %d", n, len(f), cap(f))
			}
			if pooled != (n <= arenaMaxFrame) {
				t.Fatalf("take(%d) pooled = %v", n, pooled)
			}
			fill := byte(step%255 + 1)
			for i := range f {
				f[i] = fill
			}
			window = append(window, live{f, fill, pooled})
			bytesN += n
		} else if len(window) > 0 {
			k := 1 + r.IntN(min(len(window), 64)) // confirmations come in runs
			for _, l := range window[:k] {
				if l.pooled {
					a.release()
				}
				bytesN -= len(l.frame)
			}
			window = window[k:]
		}
		check(step)
	}
	for _, l := range window {
		if l.pooled {
			a.release()
		}
	}
	if len(a.used) != 1 || a.used[0].live != 0 || len(a.used[0].buf) != 0 {
		t.Fatalf("after releasing everything: %d blocks in use, first %+v", len(a.used), a.used[0].live)
	}
}

// TestSendAllocations: in the steady state Send copies into the arena and
// allocates nothing.
func TestSendAllocations(t *testing.T) {
	s, err := New(Config{Endpoint: "tcp://127.0.0.1:1"}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("x"), 2600)
	seq := uint64(0)
	send := func() {
		if seq, err = s.Send(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
		s.win.confirm(seq) // as the ack goroutine would
	}
	for range 1000 { // grow the window's slices once
		send()
	}
	if n := testing.AllocsPerRun(1000, send); n != 0 {
		t.Errorf("Send allocated %v times per message", n)
	}
}

// TestArenaBacklogReusesBlocks: a window that fills to keep blocks and
// drains in long runs of confirmations without ever emptying, as in a
// backlog, reuses its blocks and allocates nothing; once it empties, the
// spare blocks beyond arenaIdleSpare are let go.
func TestArenaBacklogReusesBlocks(t *testing.T) {
	const blocks = 8
	a := arena{keep: blocks}
	const frameSize = 3000
	perBlock := arenaBlockSize / frameSize
	live := 0
	cycle := func() {
		for ; live < blocks*perBlock; live++ { // fill the window
			a.take(frameSize)
		}
		for ; live > 1; live-- { // confirm all but the newest frame
			a.release()
		}
	}
	cycle() // allocate the blocks once
	if n := testing.AllocsPerRun(20, cycle); n != 0 {
		t.Errorf("a backlog cycle allocated %v times", n)
	}
	if len(a.used)+len(a.free) > blocks+1 {
		t.Errorf("%d blocks in use and %d spare for a window of %d", len(a.used), len(a.free), blocks)
	}
	a.release() // the window is now empty
	if len(a.used) != 1 || len(a.free) != arenaIdleSpare {
		t.Errorf("empty window: %d blocks in use and %d spare, want 1 and %d", len(a.used), len(a.free), arenaIdleSpare)
	}
}
