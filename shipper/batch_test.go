package shipper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/audittail/audittail/internal/gelftest"
)

// TestBatchSend: a batch gets consecutive sequence numbers after the
// messages sent before it, its messages are copied when it is sent (the
// caller may reuse its buffer), and they arrive in order.
func TestBatchSend(t *testing.T) {
	srv := gelftest.NewServer(t, gelftest.Options{})
	s, _ := newShipper(t, Config{Endpoint: srv.Endpoint()})
	startRun(t, s)
	if seq, err := s.Send(t.Context(), gelfMessage(0, 10)); err != nil || seq != 1 {
		t.Fatalf("Send = %d, %v", seq, err)
	}
	b := s.NewBatch()
	buf := make([]byte, 0, 4096)
	var want [][]byte
	want = append(want, gelfMessage(0, 10))
	for i := 1; i <= 5; i++ {
		start := len(buf)
		buf = append(buf, gelfMessage(i, 20*i)...)
		if err := b.Add(buf[start:]); err != nil {
			t.Fatal(err)
		}
		want = append(want, bytes.Clone(buf[start:]))
	}
	if b.Len() != 5 {
		t.Fatalf("Len = %d", b.Len())
	}
	first, n, err := b.Send(t.Context())
	if err != nil || first != 2 || n != 5 || b.Len() != 0 {
		t.Fatalf("Send = %d, %d, %v; Len after %d", first, n, err, b.Len())
	}
	for i := range buf {
		buf[i] = 'x' // the batch was copied
	}
	checkSame(t, srv.WaitForCount(t, 6, wait), want)
	waitConfirmed(t, s, 6)
}

// TestBatchAddRefusals: a message the transport cannot carry is refused by
// Add and leaves the batch as it was.
func TestBatchAddRefusals(t *testing.T) {
	srv := gelftest.NewHTTPServer(t, gelftest.HTTPOptions{})
	s, _ := newShipper(t, Config{Endpoint: srv.URL()})
	b := s.NewBatch()
	if err := b.Add(gelfMessage(1, 10)); err != nil {
		t.Fatal(err)
	}
	var tl *TooLargeError
	if err := b.Add(gelfMessage(2, DefaultHTTPMaxBody)); !errors.As(err, &tl) {
		t.Fatalf("Add over the body limit: %v", err)
	}
	if err := b.Add([]byte("a\nb")); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("Add with a newline: %v", err)
	}
	if b.Len() != 1 {
		t.Fatalf("Len = %d after refusals, want 1", b.Len())
	}
}

// TestBatchPartlyTaken: when the context ends while a batch waits for room
// in the window, the messages that fitted are taken, numbered, and the
// error says why the others are not.
func TestBatchPartlyTaken(t *testing.T) {
	s, _ := newShipper(t, Config{Endpoint: "tcp://127.0.0.1:1", WindowBytes: MinWindowBytes})
	b := s.NewBatch()
	msg := gelfMessage(1, 300<<10) // four fill the window; nothing drains it (no Run)
	for range 6 {
		if err := b.Add(msg); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	first, n, err := b.Send(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || first != 1 || n != 3 {
		t.Fatalf("Send = %d, %d, %v; want 1, 3 and the deadline", first, n, err)
	}
	if st := s.Stats(); st.Sent != 3 {
		t.Fatalf("Sent = %d", st.Sent)
	}
}

// TestBatchAllocations: in the steady state a batch of messages is taken
// without allocating.
func TestBatchAllocations(t *testing.T) {
	s, err := New(Config{Endpoint: "tcp://127.0.0.1:1"}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewBatch()
	msg := bytes.Repeat([]byte("x"), 2600)
	send := func() {
		for range 20 {
			if err := b.Add(msg); err != nil {
				t.Fatal(err)
			}
		}
		first, n, err := b.Send(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		s.win.confirm(first + uint64(n) - 1) // as the ack goroutine would
	}
	for range 100 { // grow the window's storage once
		send()
	}
	if n := testing.AllocsPerRun(200, send); n != 0 {
		t.Errorf("a batch allocated %v times", n)
	}
}

// TestSteadyRateConfirmsWithoutWakeUps runs the real driver on fake time
// (testing/synctest) with an in-memory connection whose other end reads
// continuously, and sends a small batch every 5 ms for 2 s, as a live tail
// does. The flush of each batch confirms the batches before it whose grace
// has passed: the link's timer, the only wake-up confirmation could cost,
// runs only after the last batch. Every message is confirmed.
func TestSteadyRateConfirmsWithoutWakeUps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &confirmations{}
		s, err := New(Config{Endpoint: "tcp://127.0.0.1:1"}, testLogger(t), c.onConfirm)
		if err != nil {
			t.Fatal(err)
		}
		d := &pipeDialer{s: s, peers: make(chan net.Conn, 1)}
		st := s.tr.(*streamTransport)
		st.dial = d.dial
		ctx, cancel := context.WithCancel(t.Context())
		runDone := make(chan error, 1)
		go func() { runDone <- s.Run(ctx) }()
		if _, err := s.Send(ctx, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		peer := <-d.peers
		go func() { // the server reads as data arrives
			buf := make([]byte, 64<<10)
			for {
				if _, err := peer.Read(buf); err != nil {
					return
				}
			}
		}()

		const batches, every, perBatch = 400, 5 * time.Millisecond, 3
		b := s.NewBatch()
		for i := range batches {
			for j := range perBatch {
				if err := b.Add(fmt.Appendf(nil, "message %d.%d", i, j)); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := b.Send(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(every)
		}
		synctest.Wait()
		during := st.link.timerRuns.Load()
		time.Sleep(confirmGrace + lazyConfirm + pollMax)
		synctest.Wait()
		want := uint64(1 + batches*perBatch)
		if got := s.Stats().Confirmed; got != want {
			t.Fatalf("confirmed %d of %d", got, want)
		}
		t.Logf("%d batches: the link's timer ran %d times while they came, %d in all", batches, during, st.link.timerRuns.Load())
		if during > 2 {
			t.Errorf("the link's timer ran %d times during %d batches: confirmation costs wake-ups of its own", during, batches)
		}
		c.check(t)
		cancel()
		<-runDone
		_ = peer.Close()
		closeCtx, ccancel := context.WithTimeout(context.Background(), time.Second)
		defer ccancel()
		_ = s.Close(closeCtx)
	})
}

// TestSendNowWritesFromTheCaller: at a steady rate, SendNow writes each
// batch from the caller's goroutine (the driver is not woken); when the
// server stops reading and a backlog builds, the driver writes, and every
// message arrives, in order, once.
func TestSendNowWritesFromTheCaller(t *testing.T) {
	srv := gelftest.NewServer(t, gelftest.Options{})
	s, _ := newShipper(t, Config{Endpoint: srv.Endpoint()})
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	startRun(t, s)
	st := s.tr.(*streamTransport)
	b := s.NewBatch()
	var want [][]byte
	send := func(i int) {
		t.Helper()
		m := gelfMessage(i, 200)
		want = append(want, m)
		if err := b.Add(m); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.SendNow(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	send(0)
	srv.WaitForCount(t, 1, wait)
	waitStats(t, s, "the driver to let the link free", func(Stats) bool { return st.free.Load() != nil })
	before := st.direct.Load()
	for i := 1; i <= 20; i++ {
		send(i)
	}
	if got := st.direct.Load() - before; got != 20 {
		t.Errorf("%d of 20 batches written by the caller", got)
	}
	checkSame(t, srv.WaitForCount(t, 21, wait), want)
}
