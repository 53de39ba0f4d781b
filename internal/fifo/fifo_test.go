package fifo

import "testing"

// TestQueueOrder pushes and pops in uneven runs, long enough to compact
// several times, and checks every element comes out once, in order.
func TestQueueOrder(t *testing.T) {
	var q Queue[int]
	next, want := 0, 0
	for round := range 2000 {
		for range round % 37 {
			q.Push(next)
			next++
		}
		pops := round % 29
		if round%5 == 0 {
			n := min(pops, q.Len())
			for i := range n {
				if got := *q.At(i); got != want+i {
					t.Fatalf("At(%d) = %d, want %d", i, got, want+i)
				}
			}
			q.Drop(n)
			want += n
			continue
		}
		for ; pops > 0 && q.Len() > 0; pops-- {
			if got := q.Pop(); got != want {
				t.Fatalf("Pop = %d, want %d", got, want)
			}
			want++
		}
		if q.Len() != next-want {
			t.Fatalf("Len = %d, want %d", q.Len(), next-want)
		}
		if q.Len() > 0 && (*q.Front() != want || *q.Back() != next-1) {
			t.Fatalf("Front %d Back %d, want %d and %d", *q.Front(), *q.Back(), want, next-1)
		}
	}
}

// TestQueueReusesStorage: a queue that fills and drains allocates nothing
// once warm, and an emptied queue lets a large backlog's storage go.
func TestQueueReusesStorage(t *testing.T) {
	var q Queue[[3]int]
	run := func() {
		for i := range 3000 {
			q.Push([3]int{i})
			if i%3 == 0 {
				q.Pop()
			}
		}
		q.Drop(q.Len())
	}
	run()
	if n := testing.AllocsPerRun(10, run); n != 0 {
		t.Errorf("a warm queue allocated %v times per run", n)
	}
	for i := range 2 * keepIdle {
		q.Push([3]int{i})
	}
	q.Drop(q.Len())
	if c := cap(q.items); c > keepIdle {
		t.Errorf("an emptied queue keeps %d slots, want at most %d", c, keepIdle)
	}
}

// TestQueueZeroesPopped: popped slots hold no reference.
func TestQueueZeroesPopped(t *testing.T) {
	var q Queue[*int]
	for range 10 {
		q.Push(new(int))
	}
	q.Pop()
	q.Drop(3)
	q.Truncate(2)
	for i, p := range q.items[:cap(q.items)] {
		inQueue := i >= q.head && i < len(q.items)
		if (p != nil) != inQueue {
			t.Fatalf("slot %d: %v, in the queue: %v", i, p, inQueue)
		}
	}
}
