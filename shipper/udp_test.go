package shipper

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/gelftest"
)

// sendPaced sends msgs in groups of 20 and waits for the server to have
// them before the next group, so the loopback socket's receive buffer
// never overflows (UDP would drop, by design, and the test would measure
// the kernel, not the shipper).
func sendPaced(t *testing.T, s *Shipper, srv *gelftest.UDPServer, msgs [][]byte) [][]byte {
	t.Helper()
	for i, m := range msgs {
		if _, err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("Send %d: %v", i+1, err)
		}
		if (i+1)%20 == 0 || len(m) > 16<<10 || i == len(msgs)-1 {
			srv.WaitForCount(t, i+1, wait)
		}
	}
	return srv.WaitForCount(t, len(msgs), wait)
}

// noisyMessage is message seq with about size bytes of base64 random
// padding, which gzip shrinks only to about 75%.
func noisyMessage(seq, size int) []byte {
	random := make([]byte, size*3/4)
	_, _ = rand.Read(random)
	m := gelfMessage(seq, 0)
	return append(m[:len(m)-2], base64.StdEncoding.EncodeToString(random)+`"}`...)
}

// TestUDPDelivery sends messages from 100 bytes to 150 KB, which take one
// to over a hundred chunks, with each compression and two chunk sizes, to
// the strict reassembling server: every message arrives intact, in order,
// within the chunk size, with no protocol error (no empty chunk, count ≤
// 128), and each one is confirmed once written.
func TestUDPDelivery(t *testing.T) {
	for _, tc := range []struct {
		compression Compression
		chunkSize   int
	}{
		{CompressGzip, 0}, {CompressZlib, 0}, {CompressNone, 0}, {CompressGzip, 8154}, {CompressNone, MinChunkSize},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.compression, tc.chunkSize), func(t *testing.T) {
			// A large receive buffer (capped by net.core.rmem_max): a 150 KB
			// message is a burst of 107 datagrams.
			srv := gelftest.NewUDPServer(t, gelftest.UDPOptions{RecvBuffer: 4 << 20})
			s, conf := newShipper(t, Config{Endpoint: srv.Endpoint(), Compression: tc.compression, ChunkSize: tc.chunkSize})
			if err := s.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			startRun(t, s)
			chunk := s.cfg.ChunkSize
			big := min(150_000, s.tr.(*udpTransport).maxPayload()-1000) // 107 chunks of 1408 bytes, or nearly 128 of 500
			var msgs [][]byte
			for i := 1; i <= 200; i++ {
				m := gelfMessage(i, 100+i*37%1500)
				switch {
				case i%50 == 0:
					m = noisyMessage(i, big) // barely compressible: chunked even with gzip
				case i%20 == 0:
					m = noisyMessage(i, 20_000)
				}
				msgs = append(msgs, m)
			}
			if tc.compression == CompressNone {
				// Payloads of exactly one, two and three chunks' data: the
				// sizes that make go-gelf send an extra empty chunk.
				for n := 1; n <= 3; n++ {
					m := gelfMessage(1000+n, 0)
					msgs = append(msgs, gelfMessage(1000+n, n*(chunk-chunkHeaderSize)-len(m)))
				}
				if len(msgs[len(msgs)-1]) != 3*(chunk-chunkHeaderSize) {
					t.Fatalf("test message is %d bytes, want %d", len(msgs[len(msgs)-1]), 3*(chunk-chunkHeaderSize))
				}
			}
			got := sendPaced(t, s, srv, msgs)
			for i := range msgs {
				if !bytes.Equal(got[i], msgs[i]) {
					t.Fatalf("message %d differs (%d bytes, want %d)", i, len(got[i]), len(msgs[i]))
				}
			}
			if errs := srv.Errors(); len(errs) != 0 {
				t.Fatalf("protocol errors at the server: %v", errs)
			}
			if srv.MaxDatagram() > chunk {
				t.Errorf("largest datagram %d bytes, chunk size %d", srv.MaxDatagram(), chunk)
			}
			enc := map[Compression]string{CompressGzip: "gzip", CompressZlib: "zlib", CompressNone: "none"}[tc.compression]
			if n := srv.Encodings()[enc]; n != len(msgs) {
				t.Errorf("server saw %v, want %d %s payloads", srv.Encodings(), len(msgs), enc)
			}
			if srv.Chunked() == 0 {
				t.Error("no message was chunked: the test does not cover chunking")
			}
			st := waitConfirmed(t, s, uint64(len(msgs)))
			if st.Unconfirmed != 0 || !st.Connected || conf.Last() != uint64(len(msgs)) {
				t.Errorf("stats %+v, last confirmation %d", st, conf.Last())
			}
		})
	}
}

// TestUDPTooLarge: a message that needs more than 128 chunks once
// compressed is refused by Send with a *TooLargeError giving the sizes, so
// the caller can encode it smaller; nothing is queued for it.
func TestUDPTooLarge(t *testing.T) {
	srv := gelftest.NewUDPServer(t, gelftest.UDPOptions{})
	noisy := noisyMessage(1, 270_000)

	for _, tc := range []struct {
		compression Compression
		msg         []byte
		limit       int
	}{
		{CompressGzip, noisy, 128 * (1420 - 12)},
		{CompressNone, gelfMessage(1, 128*(MinChunkSize-12)), 128 * (MinChunkSize - 12)},
	} {
		s, _ := newShipper(t, Config{Endpoint: srv.Endpoint(), Compression: tc.compression, ChunkSize: max(tc.limit/128+12, MinChunkSize)})
		_, err := s.Send(t.Context(), tc.msg)
		var tl *TooLargeError
		if !errors.As(err, &tl) {
			t.Fatalf("%s: Send of %d bytes: %v, want a *TooLargeError", tc.compression, len(tc.msg), err)
		}
		size, limit := tl.TooLarge()
		if limit != tc.limit || size <= limit || !strings.Contains(err.Error(), srv.Endpoint()) {
			t.Errorf("%s: TooLarge() = %d, %d; want size > limit %d; error %q", tc.compression, size, limit, tc.limit, err)
		}
		if st := s.Stats(); st.Sent != 0 || st.UnconfirmedBytes != 0 {
			t.Errorf("%s: a refused message was queued: %+v", tc.compression, st)
		}
		if tc.compression == CompressNone && s.MaxMessageBytes() != tc.limit {
			t.Errorf("MaxMessageBytes() = %d, want %d", s.MaxMessageBytes(), tc.limit)
		}
	}
}

// TestUDPServerDown: while nothing listens, writes fail (ICMP port
// unreachable comes back as "connection refused" on the connected socket);
// the shipper reports it, keeps the message, retries with backoff, and
// delivers again once the server is back.
func TestUDPServerDown(t *testing.T) {
	srv := gelftest.NewUDPServer(t, gelftest.UDPOptions{})
	s, _ := newShipper(t, Config{Endpoint: srv.Endpoint()})
	startRun(t, s)
	if _, err := s.Send(t.Context(), gelfMessage(1, 100)); err != nil {
		t.Fatal(err)
	}
	srv.WaitForCount(t, 1, wait)

	srv.Stop()
	seq := 1
	st := waitStats(t, s, "a write error while the server is down", func(st Stats) bool {
		if st.Unconfirmed == 0 { // keep datagrams going until the ICMP error surfaces
			seq++
			if _, err := s.Send(t.Context(), gelfMessage(seq, 100)); err != nil {
				t.Fatal(err)
			}
		}
		return strings.Contains(st.LastError, "refused") && !st.Connected
	})
	if !strings.Contains(st.LastError, "write to "+srv.Endpoint()) {
		t.Errorf("LastError %q does not name the endpoint", st.LastError)
	}
	stuck := st.Confirmed + 1 // the message whose write failed is retried, not skipped

	srv.Restart(t)
	seq++
	if _, err := s.Send(t.Context(), gelfMessage(seq, 100)); err != nil {
		t.Fatal(err)
	}
	waitConfirmed(t, s, uint64(seq))
	got := distinctSeqs(srv.WaitForCount(t, 2, wait))
	if got[seq] != 1 {
		t.Fatalf("after the restart the server got %v, want message %d", got, seq)
	}
	if got[int(stuck)] != 1 && stuck != uint64(seq) {
		t.Errorf("message %d (the failed write) was not retried: server got %v", stuck, got)
	}
	if st := s.Stats(); !st.Connected {
		t.Errorf("not connected after recovery: %+v", st)
	}
}

// TestUDPConnectNoServer: Connect opens the socket; UDP cannot tell
// whether anything listens, so it succeeds (audittail check says so).
func TestUDPConnectNoServer(t *testing.T) {
	srv := gelftest.NewUDPServer(t, gelftest.UDPOptions{})
	srv.Stop()
	s, _ := newShipper(t, Config{Endpoint: srv.Endpoint(), DialTimeout: time.Second})
	if err := s.Connect(t.Context()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	s2, _ := newShipper(t, Config{Endpoint: "udp://no-such-host.invalid:2202", DialTimeout: 2 * time.Second})
	if err := s2.Connect(t.Context()); err == nil || !strings.Contains(err.Error(), "connect udp://no-such-host.invalid:2202") {
		t.Fatalf("Connect to an unresolvable host: %v", err)
	}
}
