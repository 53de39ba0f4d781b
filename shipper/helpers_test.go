package shipper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Graylog2/go-gelf/gelf"
	"github.com/rs/zerolog"

	"github.com/audittail/audittail/internal/gelftest"
)

// wait is the bound of every wait in these tests. Waits end as soon as
// their condition holds; the bound only turns a hang into a clear failure.
const wait = 20 * time.Second

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

// confirmations records onConfirm calls and checks the contract: strictly
// increasing, never concurrent.
type confirmations struct {
	mu      sync.Mutex
	last    uint64
	calls   int
	active  bool
	problem string
}

func (c *confirmations) onConfirm(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active && c.problem == "" {
		c.problem = "onConfirm called concurrently"
	}
	if seq <= c.last && c.problem == "" {
		c.problem = fmt.Sprintf("onConfirm(%d) after onConfirm(%d)", seq, c.last)
	}
	c.last = seq
	c.calls++
}

func (c *confirmations) Last() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *confirmations) check(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.problem != "" {
		t.Error(c.problem)
	}
}

// newShipper builds a Shipper for cfg with fast reconnects unless cfg says
// otherwise, and checks the onConfirm contract at the end of the test.
func newShipper(t testing.TB, cfg Config) (*Shipper, *confirmations) {
	t.Helper()
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin = 10 * time.Millisecond
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = 200 * time.Millisecond
	}
	c := &confirmations{}
	s, err := New(cfg, testLogger(t), c.onConfirm)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.check(t) })
	return s, c
}

// startRun runs s.Run in a goroutine until the end of the test, then
// closes s (bounded) and checks that Run returned.
func startRun(t testing.TB, s *Shipper) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		_ = s.Close(cctx)
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("Run did not return within %s of cancel", wait)
		}
	})
}

// waitStats waits until cond holds for the shipper's stats.
func waitStats(t testing.TB, s *Shipper, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		st := s.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; stats %+v", wait, what, st)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitConfirmed(t testing.TB, s *Shipper, n uint64) Stats {
	t.Helper()
	return waitStats(t, s, fmt.Sprintf("confirmation of %d messages", n), func(st Stats) bool { return st.Confirmed >= n })
}

// gelfMessage is message seq of a test stream: valid GELF 1.1 with the
// sequence number in _seq and padLen bytes of padding.
func gelfMessage(seq int, padLen int) []byte {
	return fmt.Appendf(nil, `{"version":"1.1","host":"audittail-test","short_message":"event %d","timestamp":1700000000.%03d,"level":6,"_seq":%d,"_pad":"%s"}`,
		seq, seq%1000, seq, strings.Repeat("x", padLen))
}

// decodeSeq decodes a received frame with go-gelf's Message.UnmarshalJSON
// (an independent decoder: the shipper never parses what it sends), checks
// the GELF fields, and returns _seq.
func decodeSeq(t testing.TB, frame []byte) int {
	t.Helper()
	var m gelf.Message
	if err := m.UnmarshalJSON(frame); err != nil {
		t.Fatalf("frame %.80q does not decode: %v", frame, err)
	}
	seq, ok := m.Extra["_seq"].(float64)
	if !ok || m.Version != "1.1" || m.Host != "audittail-test" || m.Short != fmt.Sprintf("event %d", int(seq)) || m.Level != 6 {
		t.Fatalf("frame %.80q decoded to unexpected %+v", frame, m)
	}
	return int(seq)
}

// distinctSeqs counts the distinct _seq values in frames (parsed cheaply:
// the frames were checked elsewhere or are checked by the caller).
func distinctSeqs(frames [][]byte) map[int]int {
	seen := make(map[int]int, len(frames))
	for _, f := range frames {
		i := strings.Index(string(f), `"_seq":`)
		if i < 0 {
			continue
		}
		var n int
		_, _ = fmt.Sscanf(string(f[i+len(`"_seq":`):]), "%d", &n)
		seen[n]++
	}
	return seen
}

// tlsServer starts a TLS server with a fresh PKI.
func tlsServer(t testing.TB, opts gelftest.Options) (*gelftest.Server, *gelftest.PKI) {
	t.Helper()
	pki := gelftest.NewPKI(t)
	if opts.TLS == nil {
		opts.TLS = pki.ServerTLS(0)
	}
	return gelftest.NewServer(t, opts), pki
}
