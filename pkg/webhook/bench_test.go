package webhook

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/rs/zerolog"
)

// discard is a spool that takes everything at once.
type discard struct{}

func (discard) Append([]byte) error { return nil }

// BenchmarkReceive POSTs batches of 400 generated events (about 1.7 KB
// each) over TLS, with a client certificate and a token, on a keep-alive
// connection, to a receiver whose spool discards: the receiver's cost per
// event, plus the client's (same process; allocs count both sides).
func BenchmarkReceive(b *testing.B) {
	body := batch(b, 400)
	for _, h2 := range []bool{false, true} {
		b.Run(fmt.Sprintf("http2=%v", h2), func(b *testing.B) {
			e := start(b, withCA, withToken, withAppender(discard{}), withLevel(zerolog.InfoLevel))
			c := e.newClient(clientOpts{cert: &e.client.Cert, http2: h2})
			rd := bytes.NewReader(body)
			req, err := http.NewRequest(http.MethodPost, e.url(), rd)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+testToken)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(body)
				req.Body = io.NopCloser(rd)
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			b.ReportMetric(float64(400*b.N)/b.Elapsed().Seconds(), "events/s")
			if s := e.r.Stats(); s.Events < uint64(400*b.N) {
				b.Fatalf("%d events accepted", s.Events)
			}
		})
	}
}
