package shipper

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/audittail/audittail/internal/gelftest"
)

// BenchmarkSendTLS sends 1 KB messages to a local TLS server and waits for
// all of them to be confirmed, so the rate includes writing, TLS, the
// server reading and confirmation (bounded by the window).
func BenchmarkSendTLS(b *testing.B) {
	srv, pki := tlsServer(b, gelftest.Options{CountOnly: true})
	s, err := New(Config{Endpoint: srv.Endpoint(), CACert: pki.CAFile}, zerolog.Nop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Connect(b.Context()); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	msg := gelfMessage(1, 1024-len(gelfMessage(1, 0)))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
	cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
	defer ccancel()
	if err := s.Close(cctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}
