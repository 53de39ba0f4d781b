package shipper

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/gelftest"
)

// testDelivery sends a stream with sizes around and above the 64 KiB write
// buffer and checks that the server got exactly the bytes sent, Frame and
// in order, and that everything was confirmed.
func testDelivery(t *testing.T, srv *gelftest.Server, cfg Config) {
	s, conf := newShipper(t, cfg)
	if err := s.Connect(t.Context()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	startRun(t, s)

	const n = 3000
	sent := make([][]byte, 0, n)
	for i := 1; i <= n; i++ {
		pad := 100 + i%700
		switch {
		case i%1000 == 0:
			pad = 200 << 10 // larger than the write buffer: written straight through
		case i%250 == 0:
			pad = 60 << 10 // close to the buffer size
		}
		msg := gelfMessage(i, pad)
		seq, err := s.Send(t.Context(), msg)
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		if seq != uint64(i) {
			t.Fatalf("Send %d returned sequence number %d", i, seq)
		}
		sent = append(sent, msg)
	}
	waitConfirmed(t, s, n)
	got := srv.WaitForCount(t, n, wait)
	if len(got) != n {
		t.Fatalf("server got %d frames, want %d (no reconnect happened, so no duplicates)", len(got), n)
	}
	for i, f := range got {
		if seq := decodeSeq(t, f); seq != i+1 {
			t.Fatalf("frame %d has _seq %d: out of order", i, seq)
		}
		if !bytes.Equal(f, sent[i]) {
			t.Fatalf("frame %d differs from the message sent", i)
		}
	}
	st := s.Stats()
	if st.Sent != n || st.Confirmed != n || st.Unconfirmed != 0 || st.UnconfirmedBytes != 0 || st.Reconnects != 0 || st.Resent != 0 || !st.Connected {
		t.Errorf("stats after delivery: %+v", st)
	}
	if conf.Last() != n {
		t.Errorf("last onConfirm(%d), want %d", conf.Last(), n)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Errorf("Close: %v", err)
	}
	if srv.Partial() != 0 {
		t.Errorf("server saw %d torn frames", srv.Partial())
	}
}

func TestDeliveryTLS(t *testing.T) {
	srv, pki := tlsServer(t, gelftest.Options{})
	testDelivery(t, srv, Config{Endpoint: srv.Endpoint(), CACert: pki.CAFile})
}

func TestDeliveryTCP(t *testing.T) {
	srv := gelftest.NewServer(t, gelftest.Options{})
	testDelivery(t, srv, Config{Endpoint: srv.Endpoint()})
}

func TestDeliveryTLSServerNameOverride(t *testing.T) {
	srv, pki := tlsServer(t, gelftest.Options{})
	// Dial 127.0.0.1, verify the certificate for "localhost".
	s, _ := newShipper(t, Config{Endpoint: srv.Endpoint(), CACert: pki.CAFile, ServerName: "localhost"})
	if err := s.Connect(t.Context()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	s2, _ := newShipper(t, Config{Endpoint: srv.Endpoint(), CACert: pki.CAFile, ServerName: "example.org"})
	err := s2.Connect(t.Context())
	if err == nil || !strings.Contains(err.Error(), "example.org") || !strings.Contains(err.Error(), "tls_server_name") {
		t.Fatalf("Connect with a wrong server name: %v", err)
	}
	_ = s.Close(t.Context())
	_ = s2.Close(t.Context())
}

func TestWrongCAThenRightServer(t *testing.T) {
	wrong, _ := tlsServer(t, gelftest.Options{})
	pki := gelftest.NewPKI(t) // the CA the shipper trusts did not sign wrong's certificate
	s, conf := newShipper(t, Config{Endpoint: wrong.Endpoint(), CACert: pki.CAFile})

	err := s.Connect(t.Context())
	if err == nil {
		t.Fatal("Connect to a server signed by another CA succeeded")
	}
	for _, want := range []string{"connect " + wrong.Endpoint() + ": ", "certificate signed by unknown authority", "ca_cert " + pki.CAFile} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Connect error %q does not contain %q", err, want)
		}
	}

	// Messages sent meanwhile wait in the window while Run retries.
	startRun(t, s)
	const n = 100
	for i := 1; i <= n; i++ {
		if _, err := s.Send(t.Context(), gelfMessage(i, 50)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	waitStats(t, s, "a verification error in LastError", func(st Stats) bool {
		return strings.Contains(st.LastError, "unknown authority")
	})
	if st := s.Stats(); st.Confirmed != 0 {
		t.Fatalf("%d messages confirmed by a server that failed verification", st.Confirmed)
	}

	// The right server takes over the address.
	wrong.Stop()
	right := gelftest.NewServer(t, gelftest.Options{TLS: pki.ServerTLS(tls.NoClientCert), Addr: wrong.Addr()})
	waitConfirmed(t, s, n)
	got := right.WaitForCount(t, n, wait)
	for i, f := range got[:n] {
		if seq := decodeSeq(t, f); seq != i+1 {
			t.Fatalf("frame %d has _seq %d", i, seq)
		}
	}
	if wrong.Count() != 0 {
		t.Errorf("the untrusted server received %d frames", wrong.Count())
	}
	if conf.Last() != n {
		t.Errorf("last onConfirm(%d), want %d", conf.Last(), n)
	}
}

func TestMutualTLS(t *testing.T) {
	pki := gelftest.NewPKI(t)
	srv := gelftest.NewServer(t, gelftest.Options{TLS: pki.ServerTLS(tls.RequireAndVerifyClientCert)})

	t.Run("with client certificate", func(t *testing.T) {
		s, _ := newShipper(t, Config{Endpoint: srv.Endpoint(), CACert: pki.CAFile, ClientCert: pki.ClientCertFile, ClientKey: pki.ClientKeyFile})
		if err := s.Connect(t.Context()); err != nil {
			t.Fatalf("Connect: %v", err)
		}
		startRun(t, s)
		before := srv.Count()
		for i := 1; i <= 10; i++ {
			if _, err := s.Send(t.Context(), gelfMessage(i, 10)); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		waitConfirmed(t, s, 10)
		got := srv.WaitForCount(t, before+10, wait)
		for i, f := range got[before:] {
			if decodeSeq(t, f) != i+1 {
				t.Fatalf("frame %d out of order", i)
			}
		}
	})

	t.Run("without client certificate", func(t *testing.T) {
		before := srv.Count()
		s, _ := newShipper(t, Config{Endpoint: srv.Endpoint(), CACert: pki.CAFile})
		err := s.Connect(t.Context())
		startRun(t, s)
		if _, err := s.Send(t.Context(), gelfMessage(1, 10)); err != nil {
			t.Fatalf("Send: %v", err)
		}
		// With TLS 1.3 the server rejects the missing certificate after
		// the client's handshake completed; Connect waits briefly for that,
		// and Run reports it in any case.
		t.Logf("Connect: %v", err)
		if err != nil {
			if !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), "client_cert") {
				t.Errorf("Connect error %q does not mention the certificate and client_cert", err)
			}
		} else {
			waitStats(t, s, "a certificate error in LastError", func(st Stats) bool {
				return strings.Contains(st.LastError, "certificate")
			})
		}
		for deadline := time.Now().Add(wait); len(srv.HandshakeErrors()) == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the server saw no handshake error within %s", wait)
			}
		}
		t.Logf("server: %q", srv.HandshakeErrors()[0])
		if st := s.Stats(); st.Confirmed != 0 {
			t.Errorf("%d messages confirmed without a client certificate", st.Confirmed)
		}
		if srv.Count() != before {
			t.Errorf("server received %d frames from a client without certificate", srv.Count()-before)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if err := s.Close(ctx); err == nil || !strings.Contains(err.Error(), "1 message (") {
			t.Errorf("Close with an undeliverable message: %v", err)
		}
	})
}

// sendAll sends messages 1..n from a goroutine and returns a channel with
// the first error (nil once all are sent).
func sendAll(ctx context.Context, s *Shipper, n, pad int) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			if _, err := s.Send(ctx, gelfMessage(i, pad)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// checkAtLeastOnce checks that every message 1..n reached srv, with at most
// maxDup duplicates in total, and that every frame decodes.
func checkAtLeastOnce(t *testing.T, srv *gelftest.Server, n, maxDup int) {
	t.Helper()
	srv.WaitFor(t, wait, "every sequence number", func(frames [][]byte) bool { return len(distinctSeqs(frames)) >= n })
	frames := srv.Messages()
	seen := map[int]int{}
	for _, f := range frames {
		seen[decodeSeq(t, f)]++
	}
	dups := 0
	for seq := 1; seq <= n; seq++ {
		if seen[seq] == 0 {
			t.Fatalf("message %d never arrived", seq)
		}
		dups += seen[seq] - 1
	}
	if len(seen) != n {
		t.Fatalf("server saw %d distinct sequence numbers, want %d", len(seen), n)
	}
	if dups > maxDup {
		t.Errorf("%d duplicates, want at most %d", dups, maxDup)
	}
	t.Logf("%d frames for %d messages (%d duplicates, %d torn frames dropped)", len(frames), n, dups, srv.Partial())
}

func TestResetMidStream(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "tcp", true: "tls"}[useTLS]
		t.Run(name, func(t *testing.T) {
			var (
				srv *gelftest.Server
				cfg Config
			)
			if useTLS {
				var pki *gelftest.PKI
				srv, pki = tlsServer(t, gelftest.Options{})
				cfg.CACert = pki.CAFile
			} else {
				srv = gelftest.NewServer(t, gelftest.Options{})
			}
			cfg.Endpoint = srv.Endpoint()
			cfg.WindowBytes = MinWindowBytes
			s, conf := newShipper(t, cfg)
			startRun(t, s)

			const n, pad, resets = 30000, 200, 3
			done := sendAll(t.Context(), s, n, pad)
			for r := 1; r <= resets; r++ {
				srv.WaitForCount(t, r*n/(resets+1), wait)
				srv.ResetAll()
			}
			if err := <-done; err != nil {
				t.Fatalf("Send: %v", err)
			}
			waitConfirmed(t, s, n)
			st := s.Stats()
			if st.Reconnects < resets {
				t.Errorf("%d reconnects after %d resets", st.Reconnects, resets)
			}
			// Each reset re-sends at most one window.
			perWindow := MinWindowBytes / (len(gelfMessage(1, pad)) + 1)
			checkAtLeastOnce(t, srv, n, int(st.Reconnects)*(perWindow+1))
			if conf.Last() != n {
				t.Errorf("last onConfirm(%d), want %d", conf.Last(), n)
			}
			t.Logf("stats: %+v", st)
		})
	}
}

func TestServerDownAndBackUp(t *testing.T) {
	srv := gelftest.NewServer(t, gelftest.Options{})
	s, conf := newShipper(t, Config{Endpoint: srv.Endpoint(), WindowBytes: 2 << 20})
	startRun(t, s)

	const n, pad = 20000, 150
	done := sendAll(t.Context(), s, n, pad)
	srv.WaitForCount(t, n/3, wait)
	srv.Stop()
	waitStats(t, s, "the shipper to notice the server is down", func(st Stats) bool {
		return !st.Connected && st.LastError != ""
	})
	down := s.Stats()
	srv.Restart(t)
	if err := <-done; err != nil {
		t.Fatalf("Send: %v", err)
	}
	waitConfirmed(t, s, n)
	perWindow := (2 << 20) / (len(gelfMessage(1, pad)) + 1)
	checkAtLeastOnce(t, srv, n, perWindow+1)
	if conf.Last() != n {
		t.Errorf("last onConfirm(%d), want %d", conf.Last(), n)
	}
	t.Logf("while down: %+v", down)
}

func TestBackpressureWhenServerStopsReading(t *testing.T) {
	srv := gelftest.NewServer(t, gelftest.Options{RecvBuffer: 16 << 10})
	srv.StopReading()
	cfg := Config{Endpoint: srv.Endpoint(), WindowBytes: MinWindowBytes, WriteTimeout: 5 * time.Minute}
	s, _ := newShipper(t, cfg)
	startRun(t, s)

	const pad = 1000
	size := len(gelfMessage(1, pad)) + 1
	limit := 3 * cfg.WindowBytes / size // far more than the window and the kernel buffers hold
	var accepted int
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		_, err := s.Send(ctx, gelfMessage(accepted+1, pad))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break // Send blocked: backpressure
		}
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if accepted++; accepted > limit {
			t.Fatalf("Send accepted %d messages (%d bytes) without blocking; window is %d bytes", accepted, accepted*size, cfg.WindowBytes)
		}
	}
	st := s.Stats()
	if st.UnconfirmedBytes+size <= cfg.WindowBytes {
		t.Errorf("Send blocked with room in the window: %+v", st)
	}
	if st.Confirmed >= st.Sent {
		t.Errorf("everything confirmed although the server reads nothing: %+v", st)
	}
	t.Logf("blocked after %d messages; stats %+v", accepted, st)

	srv.ResumeReading()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	for i := accepted + 1; i <= accepted+100; i++ {
		if _, err := s.Send(ctx, gelfMessage(i, pad)); err != nil {
			t.Fatalf("Send after the server resumed reading: %v", err)
		}
	}
	n := accepted + 100
	waitConfirmed(t, s, uint64(n))
	got := srv.WaitForCount(t, n, wait)
	for i, f := range got {
		if decodeSeq(t, f) != i+1 {
			t.Fatalf("frame %d out of order", i)
		}
	}
}

func TestConfirmationNeverRunsAhead(t *testing.T) {
	const rcvbuf = 256 << 10 // several 64 KiB flushes fit
	srv := gelftest.NewServer(t, gelftest.Options{RecvBuffer: rcvbuf})
	srv.StopReading()
	s, _ := newShipper(t, Config{Endpoint: srv.Endpoint(), WriteTimeout: 5 * time.Minute})
	startRun(t, s)

	const n, pad = 4000, 1000 // about 4 MiB: more than the kernel buffers, less than the window
	size := len(gelfMessage(1, pad)) + 1
	for i := 1; i <= n; i++ {
		if _, err := s.Send(t.Context(), gelfMessage(i, pad)); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	// The server kernel acknowledges what fits in its receive buffer, so
	// some messages get confirmed; then nothing more can be.
	waitStats(t, s, "the first confirmations", func(st Stats) bool { return st.Confirmed > 0 })
	time.Sleep(500 * time.Millisecond) // give a wrong implementation time to run ahead
	st := s.Stats()
	if st.Confirmed >= st.Sent {
		t.Fatalf("confirmed %d of %d messages while the server reads nothing", st.Confirmed, st.Sent)
	}
	// Linux doubles SO_RCVBUF; acknowledged bytes cannot exceed it.
	if confirmedBytes := int(st.Confirmed) * size; confirmedBytes > 2*rcvbuf {
		t.Fatalf("confirmed %d bytes, more than the server's receive buffer (%d) can hold", confirmedBytes, 2*rcvbuf)
	}
	if srv.Count() != 0 {
		t.Fatalf("server read %d frames while stopped", srv.Count())
	}
	t.Logf("stalled at %+v", st)

	srv.ResumeReading()
	waitConfirmed(t, s, n)
	got := srv.WaitForCount(t, n, wait)
	for i, f := range got {
		if decodeSeq(t, f) != i+1 {
			t.Fatalf("frame %d out of order", i)
		}
	}
}

func TestCloseWaitsForConfirmation(t *testing.T) {
	t.Run("with Run", func(t *testing.T) {
		srv := gelftest.NewServer(t, gelftest.Options{})
		s, conf := newShipper(t, Config{Endpoint: srv.Endpoint()})
		startRun(t, s)
		const n = 5000
		for i := 1; i <= n; i++ {
			if _, err := s.Send(t.Context(), gelfMessage(i, 300)); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		if err := s.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if st := s.Stats(); st.Confirmed != n || st.Unconfirmed != 0 || st.Connected {
			t.Errorf("after Close: %+v", st)
		}
		if conf.Last() != n {
			t.Errorf("last onConfirm(%d) after Close, want %d", conf.Last(), n)
		}
		srv.WaitForCount(t, n, wait)
		if _, err := s.Send(t.Context(), gelfMessage(n+1, 1)); !errors.Is(err, ErrClosed) {
			t.Errorf("Send after Close: %v, want ErrClosed", err)
		}
		if err := s.Run(t.Context()); !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Close: %v, want ErrClosed", err)
		}
	})

	t.Run("without Run", func(t *testing.T) {
		// Run's context ended first (the usual shutdown order); Close
		// drives the connection itself.
		srv := gelftest.NewServer(t, gelftest.Options{})
		s, conf := newShipper(t, Config{Endpoint: srv.Endpoint()})
		ctx, cancel := context.WithCancel(t.Context())
		runDone := make(chan error, 1)
		go func() { runDone <- s.Run(ctx) }()
		for i := 1; i <= 100; i++ {
			if _, err := s.Send(t.Context(), gelfMessage(i, 300)); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		cancel()
		if err := <-runDone; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v, want context.Canceled", err)
		}
		for i := 101; i <= 200; i++ { // the window still accepts
			if _, err := s.Send(t.Context(), gelfMessage(i, 300)); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		if err := s.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if conf.Last() != 200 {
			t.Errorf("last onConfirm(%d), want 200", conf.Last())
		}
		checkAtLeastOnce(t, srv, 200, 200)
	})

	t.Run("times out", func(t *testing.T) {
		srv := gelftest.NewServer(t, gelftest.Options{RecvBuffer: 16 << 10})
		srv.StopReading()
		s, _ := newShipper(t, Config{Endpoint: srv.Endpoint(), WriteTimeout: 5 * time.Minute})
		startRun(t, s)
		for i := 1; i <= 3000; i++ {
			if _, err := s.Send(t.Context(), gelfMessage(i, 1000)); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		err := s.Close(ctx)
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "unconfirmed") {
			t.Fatalf("Close with a server that does not read: %v", err)
		}
		t.Log(err)
		if st := s.Stats(); st.Unconfirmed == 0 || st.Connected {
			t.Errorf("after a timed-out Close: %+v", st)
		}
		if err2 := s.Close(t.Context()); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("second Close: %v, want the first result", err2)
		}
	})
}

func TestMessageLargerThanWindow(t *testing.T) {
	srv := gelftest.NewServer(t, gelftest.Options{})
	s, _ := newShipper(t, Config{Endpoint: srv.Endpoint(), WindowBytes: MinWindowBytes})
	startRun(t, s)
	big := gelfMessage(2, MinWindowBytes+MinWindowBytes/2)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	for i, msg := range [][]byte{gelfMessage(1, 10), big, gelfMessage(3, 10)} {
		if _, err := s.Send(ctx, msg); err != nil {
			t.Fatalf("Send %d: %v", i+1, err)
		}
	}
	waitConfirmed(t, s, 3)
	got := srv.WaitForCount(t, 3, wait)
	if !bytes.Equal(got[1], big) {
		t.Fatalf("the large message arrived with %d bytes, want %d", len(got[1]), len(big))
	}
}

func TestSendRejectsBadMessages(t *testing.T) {
	s, _ := newShipper(t, Config{Endpoint: "tcp://127.0.0.1:1"})
	for _, msg := range [][]byte{nil, []byte("{\"a\":\"b\x00\"}")} {
		if _, err := s.Send(t.Context(), msg); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("Send(%q): %v, want ErrInvalidMessage", msg, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Send(ctx, []byte("{}")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a done context: %v", err)
	}
	if st := s.Stats(); st.Sent != 0 {
		t.Errorf("rejected messages got sequence numbers: %+v", st)
	}
}

func TestConcurrentSendersGetDistinctSequenceNumbers(t *testing.T) {
	srv := gelftest.NewServer(t, gelftest.Options{})
	s, _ := newShipper(t, Config{Endpoint: srv.Endpoint()})
	startRun(t, s)
	const senders, each = 8, 500
	var mu sync.Mutex
	seqs := map[uint64]bool{}
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				seq, err := s.Send(t.Context(), gelfMessage(g*each+i+1, 20))
				if err != nil {
					t.Errorf("Send: %v", err)
					return
				}
				mu.Lock()
				seqs[seq] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seqs) != senders*each {
		t.Fatalf("%d distinct sequence numbers for %d messages", len(seqs), senders*each)
	}
	waitConfirmed(t, s, senders*each)
	checkAtLeastOnce(t, srv, senders*each, 0)
}

// TestAbortMidStream: a server that crashes (RST with unread bytes in its
// receive buffer) can lose bytes its kernel acknowledged; GELF has no
// application ack. The confirmation grace makes that unlikely; this test
// checks that the shipper recovers and confirms everything, and only
// reports how many messages the crashes cost.
func TestAbortMidStream(t *testing.T) {
	srv := gelftest.NewServer(t, gelftest.Options{})
	s, _ := newShipper(t, Config{Endpoint: srv.Endpoint(), WindowBytes: MinWindowBytes})
	startRun(t, s)
	const n, pad = 20000, 200
	done := sendAll(t.Context(), s, n, pad)
	for r := 1; r <= 3; r++ {
		srv.WaitForCount(t, r*n/4, wait)
		srv.AbortAll()
	}
	if err := <-done; err != nil {
		t.Fatalf("Send: %v", err)
	}
	waitConfirmed(t, s, n)
	// Everything sent after the last crash arrives; only what the
	// crashes discarded may be missing.
	srv.WaitFor(t, wait, "the last message", func(frames [][]byte) bool { return distinctSeqs(frames)[n] > 0 })
	seen := distinctSeqs(srv.Messages())
	missing := 0
	for seq := 1; seq <= n; seq++ {
		if seen[seq] == 0 {
			missing++
		}
	}
	t.Logf("3 crashes cost %d of %d messages; stats %+v", missing, n, s.Stats())
}
