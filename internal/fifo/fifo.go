// Package fifo is the first-in, first-out queue that the pipeline and the
// shipper share: the shipper's replay window holds the messages not yet
// confirmed, the pipeline the checkpoint positions waiting for them. Both
// push at the back and pop from the front, in runs, at up to hundreds of
// thousands of elements a second, so the queue reuses its storage: popping
// moves an index, and the front is compacted away only once it dominates.
package fifo

// Queue is a FIFO of T. The zero value is an empty queue ready to use. It is
// not safe for concurrent use.
type Queue[T any] struct {
	items []T // items[head:] are in the queue, oldest first
	head  int
}

// compactAt is how many popped slots the queue lets accumulate at its front
// before moving what is left to the start of its storage (also when they are
// at least half of it): the copy then costs at most as much as the pops did.
const compactAt = 1024

// keepIdle bounds the storage an empty queue keeps, so that the memory of a
// past backlog goes back.
const keepIdle = 1 << 16

// Len returns the number of elements in the queue.
func (q *Queue[T]) Len() int { return len(q.items) - q.head }

// Push adds v at the back.
func (q *Queue[T]) Push(v T) { q.items = append(q.items, v) }

// At returns a pointer to the i-th element from the front (0 is the front).
// It panics if i is out of range. The pointer is valid until the next Push
// or Pop.
func (q *Queue[T]) At(i int) *T { return &q.items[q.head+i] }

// Front returns a pointer to the front element; see At.
func (q *Queue[T]) Front() *T { return q.At(0) }

// Back returns a pointer to the back element; see At.
func (q *Queue[T]) Back() *T { return q.At(q.Len() - 1) }

// Pop removes the front element and returns it. It panics on an empty
// queue. The slot is zeroed, so the queue keeps no reference to it.
func (q *Queue[T]) Pop() T {
	v := q.items[q.head]
	var zero T
	q.items[q.head] = zero
	q.head++
	q.shrink()
	return v
}

// Drop removes the n elements at the front (at most Len).
func (q *Queue[T]) Drop(n int) {
	n = min(n, q.Len())
	clear(q.items[q.head : q.head+n])
	q.head += n
	q.shrink()
}

// Truncate removes every element after the first n (the n oldest stay).
func (q *Queue[T]) Truncate(n int) {
	if n < q.Len() {
		clear(q.items[q.head+n:])
		q.items = q.items[:q.head+n]
	}
	q.shrink()
}

func (q *Queue[T]) shrink() {
	switch {
	case q.head == len(q.items):
		if cap(q.items) > keepIdle {
			q.items = nil
		} else {
			q.items = q.items[:0]
		}
		q.head = 0
	case q.head >= compactAt && 2*q.head >= len(q.items):
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}
