package shipper

import "slices"

// arena holds the frames of the replay window in large blocks, so that
// Send copies a message into memory that is already there instead of
// allocating for each one (at 100,000 messages per second, per-message
// allocations cost more in garbage collection than the copy itself).
//
// Frames leave the window in the order they entered it (the window is a
// FIFO), so a block only counts the frames it holds: when the count of
// the oldest block drops to zero, no frame points into it any more, and it
// is reused. Frames larger than arenaMaxFrame get their own allocation.
//
// Emptied blocks are kept for reuse, up to keep of them: with keep set to
// what the window holds, a backlog (the window filling and draining in
// runs of confirmations) allocates nothing. When the window is empty, as
// it is between the confirmations of a live tail, the spare blocks beyond
// arenaIdleSpare are dropped, so the memory of a past backlog goes back.
// The arena is not safe for concurrent use: the Shipper guards it with mu.
type arena struct {
	used []*arenaBlock // blocks holding frames, oldest first; new frames go into the last
	free []*arenaBlock // empty blocks kept for reuse
	keep int           // most empty blocks kept while frames are in the window
}

type arenaBlock struct {
	buf  []byte // buf[:len] has been handed out
	live int    // frames handed out and not yet released
}

const (
	arenaBlockSize = 1 << 20
	arenaMaxFrame  = arenaBlockSize / 2 // larger frames are allocated alone
	arenaIdleSpare = 2                  // empty blocks kept once the window is empty
)

// take returns n bytes for a frame. pooled is true when they come from a
// block; release must then be called once the frame leaves the window, in
// the order the pooled frames were taken.
func (a *arena) take(n int) (frame []byte, pooled bool) {
	if n > arenaMaxFrame {
		return make([]byte, n), false
	}
	var b *arenaBlock
	if k := len(a.used); k > 0 && cap(a.used[k-1].buf)-len(a.used[k-1].buf) >= n {
		b = a.used[k-1]
	} else {
		if k := len(a.free); k > 0 {
			b, a.free = a.free[k-1], a.free[:k-1]
		} else {
			b = &arenaBlock{buf: make([]byte, 0, arenaBlockSize)}
		}
		a.used = append(a.used, b)
	}
	start := len(b.buf)
	b.buf = b.buf[:start+n]
	b.live++
	return b.buf[start : start+n : start+n], true
}

// release returns the oldest pooled frame still in the window. The caller
// must not use that frame afterwards: its bytes will hold another frame.
func (a *arena) release() {
	b := a.used[0]
	if b.live--; b.live > 0 {
		return
	}
	b.buf = b.buf[:0]
	if len(a.used) == 1 { // the window is empty: fill this block again from its start
		if len(a.free) > arenaIdleSpare {
			clear(a.free[arenaIdleSpare:])
			a.free = a.free[:arenaIdleSpare]
		}
		return
	}
	a.used = slices.Delete(a.used, 0, 1)
	if len(a.free) < max(a.keep, arenaIdleSpare) {
		a.free = append(a.free, b)
	}
}
