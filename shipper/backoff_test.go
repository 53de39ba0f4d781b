package shipper

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestBackoffDelayBounds(t *testing.T) {
	const lo, hi = 500 * time.Millisecond, 30 * time.Second
	ceilings := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for n, b := range ceilings {
		if got := backoffDelay(n, lo, hi, func() float64 { return 0 }); got != max(lo, b/2) {
			t.Errorf("backoffDelay(%d) with rnd=0 = %s, want %s", n, got, max(lo, b/2))
		}
		if got := backoffDelay(n, lo, hi, func() float64 { return 0.999999 }); got > b || got < b-b/1000 {
			t.Errorf("backoffDelay(%d) with rnd≈1 = %s, want ≈%s", n, got, b)
		}
		for range 100 {
			if got := backoffDelay(n, lo, hi, nil); got < max(lo, b/2) || got > b {
				t.Fatalf("backoffDelay(%d) = %s, outside [%s, %s]", n, got, max(lo, b/2), b)
			}
		}
	}
	if got := backoffDelay(1000, lo, hi, nil); got > hi {
		t.Errorf("backoffDelay(1000) = %s, above the maximum", got)
	}
}

// pipeDialer replaces Shipper.dial inside a synctest bubble: the first
// failures calls fail, later ones return a net.Pipe whose server end is
// sent on peers. It records the time of every attempt.
type pipeDialer struct {
	s        *Shipper
	failures int
	peers    chan net.Conn

	mu       sync.Mutex
	attempts []time.Time
}

func (d *pipeDialer) dial(context.Context) (*link, error) {
	d.mu.Lock()
	d.attempts = append(d.attempts, time.Now())
	n := len(d.attempts)
	d.mu.Unlock()
	if n <= d.failures {
		return nil, errors.New("fake: connection refused")
	}
	client, server := net.Pipe()
	d.peers <- server
	cc := &countingConn{Conn: client, total: &d.s.bytesWritten}
	return newNetLink("pipe", cc, cc, nil, time.Minute)
}

func (d *pipeDialer) times() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.attempts...)
}

// readFrames reads exactly n NUL-terminated frames from c.
func readFrames(t *testing.T, c net.Conn, n int) []string {
	t.Helper()
	var frames []string
	var pending []byte
	buf := make([]byte, 4096)
	for len(frames) < n {
		k, err := c.Read(buf)
		pending = append(pending, buf[:k]...)
		for {
			i := bytes.IndexByte(pending, 0)
			if i < 0 {
				break
			}
			frames = append(frames, string(pending[:i]))
			pending = pending[i+1:]
		}
		if err != nil {
			t.Fatalf("read after %d frames: %v", len(frames), err)
		}
	}
	if len(pending) > 0 {
		t.Fatalf("read past frame %d: %q", n, pending)
	}
	return frames
}

// TestReconnectBackoffAndResend runs the real driver loop on fake time
// (testing/synctest) with in-memory connections: the delays between failed
// attempts follow backoffDelay, a connection lost before confirmation makes
// the driver re-send the unconfirmed frames first, in order, and a
// confirmation resets the backoff.
func TestReconnectBackoffAndResend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const minD, maxD = 100 * time.Millisecond, time.Second
		s, conf := newShipper(t, Config{Endpoint: "tcp://127.0.0.1:1", BackoffMin: minD, BackoffMax: maxD})
		d := &pipeDialer{s: s, failures: 6, peers: make(chan net.Conn, 1)}
		s.tr.(*streamTransport).dial = d.dial
		ctx, cancel := context.WithCancel(t.Context())
		runDone := make(chan error, 1)
		go func() { runDone <- s.Run(ctx) }()

		for _, m := range []string{"m1", "m2", "m3"} {
			if _, err := s.Send(ctx, []byte(m)); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		peer := <-d.peers
		if got := readFrames(t, peer, 3); got[0] != "m1" || got[1] != "m2" || got[2] != "m3" {
			t.Fatalf("frames %q", got)
		}
		at := d.times()
		if len(at) != d.failures+1 {
			t.Fatalf("%d attempts, want %d", len(at), d.failures+1)
		}
		for i := 1; i < len(at); i++ {
			b := min(maxD, minD<<(i-1))
			if got := at[i].Sub(at[i-1]); got < max(minD, b/2) || got > b {
				t.Errorf("delay before attempt %d = %s, want within [%s, %s]", i+1, got, max(minD, b/2), b)
			}
		}
		if st := s.Stats(); !st.Connected || st.LastError == "" || st.Confirmed != 0 {
			t.Errorf("stats before the grace period: %+v", st)
		}

		// Confirmation comes confirmGrace after the flush, and lazyConfirm
		// later when no other flush looks before.
		time.Sleep(confirmGrace + lazyConfirm + pollMax)
		synctest.Wait()
		if st := s.Stats(); st.Confirmed != 3 || conf.Last() != 3 {
			t.Fatalf("after the grace period: %+v, last onConfirm %d", st, conf.Last())
		}

		// m4 and m5 are written, then the peer drops the connection before
		// they can be confirmed: the next connection starts with them.
		for _, m := range []string{"m4", "m5"} {
			if _, err := s.Send(ctx, []byte(m)); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		readFrames(t, peer, 2)
		lost := time.Now()
		_ = peer.Close()
		peer2 := <-d.peers
		// The last link confirmed something, so this is the first failure:
		// one backoffDelay(0) = BackoffMin.
		if got := time.Since(lost); got != minD {
			t.Errorf("reconnected %s after the loss, want %s", got, minD)
		}
		if _, err := s.Send(ctx, []byte("m6")); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if got := readFrames(t, peer2, 3); got[0] != "m4" || got[1] != "m5" || got[2] != "m6" {
			t.Fatalf("frames after reconnect %q, want m4 m5 m6", got)
		}
		time.Sleep(confirmGrace + lazyConfirm + pollMax)
		synctest.Wait()
		st := s.Stats()
		if st.Confirmed != 6 || st.Resent != 2 || st.Reconnects != 1 {
			t.Errorf("after reconnect: %+v", st)
		}

		// Close drains (nothing left) and closes the connection.
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-runDone; err != nil {
			t.Errorf("Run after Close: %v", err)
		}
		cancel()
		_ = peer2.Close()
	})
}

// TestCloseStopsBackoff checks on fake time that Close with a deadline ends
// a reconnect loop that can never succeed, and reports the loss.
func TestCloseStopsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, conf := newShipper(t, Config{Endpoint: "tcp://127.0.0.1:1", BackoffMin: time.Second, BackoffMax: 10 * time.Second})
		d := &pipeDialer{s: s, failures: 1 << 30, peers: make(chan net.Conn, 1)}
		s.tr.(*streamTransport).dial = d.dial
		runDone := make(chan error, 1)
		go func() { runDone <- s.Run(t.Context()) }()
		for range 5 {
			if _, err := s.Send(t.Context(), []byte("x")); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		start := time.Now()
		err := s.Close(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close: %v, want DeadlineExceeded", err)
		}
		if got := time.Since(start); got != time.Minute {
			t.Errorf("Close returned after %s, want exactly its 1m deadline", got)
		}
		if err := <-runDone; !errors.Is(err, ErrClosed) {
			t.Errorf("Run after a timed-out Close: %v, want ErrClosed", err)
		}
		// 1m of attempts with delays of at most 10s.
		if n := len(d.times()); n < 7 {
			t.Errorf("%d attempts in a minute", n)
		}
		if conf.Last() != 0 {
			t.Errorf("onConfirm(%d) without a connection", conf.Last())
		}
	})
}
