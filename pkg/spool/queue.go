package spool

import "time"

// maxQueue bounds the batches the queue of unconfirmed batches holds
// apart: past it, neighbours are merged two by two.
const maxQueue = 4096

// entry is one batch appended and not yet confirmed by the log server: it
// ends at offset end of the spool file numbered seq, and was appended at
// at. Merged entries keep the end of the newer and the time of the older.
type entry struct {
	seq uint64
	end int64
	at  time.Time
}

// unshipped is the queue of unconfirmed batches, oldest first, from which
// Stats.OldestUnshipped is read. Its memory is bounded by maxQueue.
type unshipped struct {
	q    []entry
	head int
}

func (u *unshipped) push(e entry) {
	u.q = append(u.q, e)
	if len(u.q)-u.head > maxQueue {
		u.merge()
	}
}

// merge halves the queue: each pair of neighbours becomes one entry that
// ends where the newer ends and keeps the time of the older, so the oldest
// time is never lost, and is dropped only when the newer is confirmed.
func (u *unshipped) merge() {
	live := u.q[u.head:]
	out := u.q[:0]
	for i := 0; i < len(live); i += 2 {
		e := live[i]
		if i+1 < len(live) {
			n := live[i+1]
			e.seq, e.end = n.seq, n.end
		}
		out = append(out, e)
	}
	clear(u.q[len(out):])
	u.q, u.head = out, 0
}

// confirm drops the entries that a position at offset off of file seq
// covers: those of older files, and those of file seq that end at or
// before off.
func (u *unshipped) confirm(seq uint64, off int64) {
	for u.head < len(u.q) {
		e := u.q[u.head]
		if e.seq > seq || (e.seq == seq && e.end > off) {
			break
		}
		u.head++
	}
	switch {
	case u.head == len(u.q):
		clear(u.q)
		u.q, u.head = u.q[:0], 0
	case u.head > 64 && u.head > len(u.q)/2:
		n := copy(u.q, u.q[u.head:])
		clear(u.q[n:])
		u.q, u.head = u.q[:n], 0
	}
}

// oldest returns the time of the oldest entry, or zero.
func (u *unshipped) oldest() time.Time {
	if u.head == len(u.q) {
		return time.Time{}
	}
	return u.q[u.head].at
}

// len returns the number of entries.
func (u *unshipped) len() int { return len(u.q) - u.head }
