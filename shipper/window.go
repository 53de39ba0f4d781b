package shipper

import (
	"context"
	"sync"
	"time"

	"github.com/audittail/audittail/internal/fifo"
)

// window is the replay window: the frames of the messages accepted by Send
// and not confirmed yet, with contiguous sequence numbers confirmed+1 ..
// last, in a FIFO whose frames live in an arena. It is where the sender
// (the pipeline) and the driver of the connection meet, once per batch:
// add appends a batch and wakes the driver once; the driver takes what it
// has not written yet with pending; confirm removes the frames the server
// received and wakes senders waiting for room. Its methods are safe for
// concurrent use.
type window struct {
	max       int              // WindowBytes
	onConfirm func(seq uint64) // called by confirm, outside the lock

	mu        sync.Mutex
	space     sync.Cond     // the window shrank, close, or a waiting add's ctx ended
	wake      chan struct{} // capacity 1: new frames or close, for the driver
	q         fifo.Queue[entry]
	arena     arena
	bytes     int
	last      uint64 // sequence number of the newest frame
	confirmed uint64 // sequence number of the newest confirmed frame
	closed    bool
}

// entry is one message in the window.
type entry struct {
	frame  []byte
	sentAt int64 // when Send accepted it (Unix nanoseconds)
	pooled bool  // frame is in the arena
}

func newWindow(maxBytes int, onConfirm func(uint64)) *window {
	w := &window{
		max:       maxBytes,
		onConfirm: onConfirm,
		wake:      make(chan struct{}, 1),
		arena:     arena{keep: maxBytes / arenaBlockSize},
	}
	w.space.L = &w.mu
	return w
}

// framed is a message as the window keeps it: the message, kept by
// reference until add copies it, followed by the transport's delimiter;
// or, for udp://, the payload the transport made of it (compressed), which
// the window keeps as it is.
type framed struct {
	msg     []byte
	payload []byte
	delim   byte
}

func (f framed) size() int {
	if f.payload != nil {
		return len(f.payload)
	}
	return len(f.msg) + 1
}

// add appends the frames to the window, waiting while it has no room, and
// returns the sequence number of the first. The caller wakes the driver
// (notify) once the frames are in, unless it writes them itself. Frames that fit go in at once
// (the window is shared by lock, not per frame); a frame larger than the
// window goes in alone once the window is empty, so add never deadlocks.
// It returns ctx.Err() if ctx ends first, ErrClosed after close, with
// the frames before the failing one added (n says how many).
func (w *window) add(ctx context.Context, frames []framed) (first uint64, n int, err error) {
	w.mu.Lock()
	first = w.last + 1
	now := time.Now().UnixNano()
	for n < len(frames) {
		f := frames[n]
		size := f.size()
		if err = w.waitSpace(ctx, size); err != nil {
			break
		}
		e := entry{frame: f.payload, sentAt: now}
		if f.payload == nil {
			e.frame, e.pooled = w.arena.take(size)
			copy(e.frame, f.msg)
			e.frame[len(f.msg)] = f.delim
		}
		w.q.Push(e)
		w.bytes += size
		w.last++
		n++
		if n%batchFrames == 0 {
			w.notify() // a long batch: let the driver start on it
		}
	}
	w.mu.Unlock()
	return first, n, err
}

// waitSpace waits, with w.mu held, until a frame of size bytes fits, close
// or the end of ctx.
func (w *window) waitSpace(ctx context.Context, size int) error {
	fits := func() bool { return w.bytes == 0 || w.bytes+size <= w.max }
	if w.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if fits() {
		return nil
	}
	w.notify() // what is in the window must go out for room to come
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.space.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	for !fits() {
		if w.closed {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		w.space.Wait()
	}
	return nil
}

// notify wakes the driver without blocking.
func (w *window) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// pending appends to dst the frames after sequence number after (or after
// the last confirmed, if later), at most batchFrames of them and about
// batchBytes, and returns dst and the sequence number of its first frame.
func (w *window) pending(after uint64, dst [][]byte) ([][]byte, uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	first := max(after, w.confirmed) + 1
	size := 0
	for i := int(first - w.confirmed - 1); i < w.q.Len() && len(dst) < batchFrames && size < batchBytes; i++ {
		f := w.q.At(i).frame
		dst = append(dst, f)
		size += len(f)
	}
	return dst, first
}

// confirm removes the frames up to seq from the window, wakes waiting
// senders and the driver, and calls onConfirm(seq). Calls come from one
// goroutine at a time (the connection's ack goroutine or the driver), with
// increasing seq.
func (w *window) confirm(seq uint64) {
	w.mu.Lock()
	if seq <= w.confirmed {
		w.mu.Unlock()
		return
	}
	for n := seq - w.confirmed; n > 0; n-- {
		e := w.q.Pop()
		w.bytes -= len(e.frame)
		if e.pooled {
			w.arena.release()
		}
	}
	w.confirmed = seq
	w.space.Broadcast()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		w.notify() // the driver may be waiting for the window to drain
	}
	if w.onConfirm != nil {
		w.onConfirm(seq)
	}
}

// close makes add return ErrClosed and wakes everyone.
func (w *window) close() {
	w.mu.Lock()
	w.closed = true
	w.space.Broadcast()
	w.mu.Unlock()
	w.notify()
}

func (w *window) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// drained reports whether close was called and every frame is confirmed.
func (w *window) drained() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed && w.confirmed == w.last
}

// windowStats is what Stats reports of the window.
type windowStats struct {
	last, confirmed uint64
	bytes           int
	oldest          time.Time
}

func (w *window) stats() windowStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := windowStats{last: w.last, confirmed: w.confirmed, bytes: w.bytes}
	if w.q.Len() > 0 {
		s.oldest = time.Unix(0, w.q.Front().sentAt)
	}
	return s
}
