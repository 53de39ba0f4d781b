package gelftest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// inbox is what the three servers (Server, UDPServer, HTTPServer) share:
// the messages they received, their lock, and the means to wait for a
// change. Each server embeds one and calls setup before it starts.
//
// mu is the server's only lock: it guards the inbox and the server's own
// state alike, so that a server records a message together with the
// counters and errors it affects, and a waiter sees all of them at once.
// Whoever changes, under mu, something a waiter may wait for calls
// signalLocked before unlocking.
type inbox struct {
	mu sync.Mutex

	countOnly bool          // count messages without keeping them
	msgs      [][]byte      // kept messages, in the order recorded
	counted   int           // messages counted but not kept (countOnly)
	changed   chan struct{} // closed and replaced by signalLocked
	// report says what the server got, for a wait that timed out
	// ("got 3 messages from ..."); called with mu held.
	report func() string
}

// setup prepares b: countOnly as in the servers' CountOnly options, report
// as the field.
func (b *inbox) setup(countOnly bool, report func() string) {
	b.countOnly = countOnly
	b.report = report
	b.changed = make(chan struct{})
}

// recordLocked records a received message, which the caller gives up: it
// keeps it or, in countOnly mode, only counts it. The caller signals.
func (b *inbox) recordLocked(m []byte) {
	if b.countOnly {
		b.counted++
	} else {
		b.msgs = append(b.msgs, m)
	}
}

// signalLocked wakes every waitFor in progress to check its condition
// again.
func (b *inbox) signalLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// messages returns a copy of every kept message, in the order recorded.
func (b *inbox) messages() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([][]byte, len(b.msgs))
	for i, m := range b.msgs {
		out[i] = bytes.Clone(m)
	}
	return out
}

// count returns the number of messages recorded, kept or counted.
func (b *inbox) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.countLocked()
}

func (b *inbox) countLocked() int { return len(b.msgs) + b.counted }

// waitForCount waits until at least n messages were recorded (count >= n)
// and returns the kept ones (as messages does). It fails the test after
// timeout; noun names the messages in the failure ("frames").
func (b *inbox) waitForCount(t testing.TB, n int, timeout time.Duration, noun string) [][]byte {
	t.Helper()
	b.waitFor(t, timeout, fmt.Sprintf("%d %s", n, noun), func() bool { return b.countLocked() >= n })
	return b.messages()
}

// waitFor waits until cond, called with mu held, returns true. It fails
// the test after timeout, naming what (a description of the condition)
// and what the server got (report).
func (b *inbox) waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		ok := cond()
		ch := b.changed
		b.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			b.mu.Lock()
			got := b.report()
			b.mu.Unlock()
			t.Fatalf("gelftest: waited %s for %s; %s", timeout, what, got)
		}
	}
}

// locked returns get(), called with b.mu held: the servers' getters read
// their state with it.
func locked[T any](b *inbox, get func() T) T {
	b.mu.Lock()
	defer b.mu.Unlock()
	return get()
}
