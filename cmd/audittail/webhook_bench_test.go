package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/auditgen"
	"github.com/audittail/audittail/internal/gelftest"
)

// webhookBatchEvents is kube-apiserver's default --audit-webhook-batch-max-size.
const webhookBatchEvents = 400

// BenchmarkWebhook measures the webhook receiver end to end: b.N generated
// events are POSTed as EventList batches of 400 (kube-apiserver's default
// batch size), by two clients at once, over TLS with a client certificate,
// to the agent, which spools and syncs each batch before answering and
// ships the spool to a GELF server over TLS. It reports the batches and
// events per second the receiver accepted (from the first POST to the last
// 200), the events per second delivered (to the last message's arrival),
// the agent's CPU-seconds per 100k events and its peak RSS.
//
//	go test -run '^$' -bench Webhook -benchtime 200000x ./cmd/audittail
func BenchmarkWebhook(b *testing.B) {
	bodies := webhookBodies(b, b.N)
	pki := gelftest.NewPKI(b)
	srv := gelftest.NewServer(b, gelftest.Options{CountOnly: true, TLS: pki.ServerTLS(tls.NoClientCert)})
	dir := b.TempDir()
	addr := freeAddr(b)
	var env []string
	if d := os.Getenv("BENCH_PROFILE_DIR"); d != "" { // go tool pprof DIR/cpu-webhook.pprof
		env = append(env, "AUDITTAIL_CPUPROFILE="+filepath.Join(d, "cpu-webhook.pprof"))
	}
	a := startAgent(b, env, "--webhook-listen", addr, "--webhook-cert", pki.ServerCertFile, "--webhook-key", pki.ServerKeyFile,
		"--webhook-client-ca", pki.CAFile, "--spool-dir", filepath.Join(dir, "spool"), "--endpoint", srv.Endpoint(),
		"--ca-cert", pki.CAFile, "--checkpoint", filepath.Join(dir, "ckpt.json"), "--log-level", "warn")
	r := &benchAgent{srv: srv, a: a}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pki.CAPool, Certificates: []tls.Certificate{pki.ClientCert}},
		MaxIdleConnsPerHost: 2,
	}}
	url := "https://" + addr + "/"
	waitListening(b, addr, a)

	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < len(bodies); i += 2 {
				if err := postBatch(client, url, bodies[i]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	accepted := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	r.waitCount(b, b.N, 10*time.Minute)
	delivered := time.Since(start)
	b.StopTimer()
	cpu := r.finish(b, b.N)
	b.ReportMetric(float64(len(bodies))/accepted.Seconds(), "batches/s")
	b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted-events/s")
	b.ReportMetric(float64(b.N)/delivered.Seconds(), "events/s")
	b.ReportMetric(cpu.Seconds()*100000/float64(b.N), "cpu-s/100k")
}

// webhookBodies generates n events as EventList bodies of up to 400
// items, without the items' kind and apiVersion, as kube-apiserver's
// webhook backend sends them.
func webhookBodies(b *testing.B, n int) [][]byte {
	g := auditgen.New(auditgen.Config{})
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	const head = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`
	const prefix = `{"kind":"Event","apiVersion":"audit.k8s.io/v1",`
	var bodies [][]byte
	var line []byte
	for i := 0; i < n; i += webhookBatchEvents {
		body := []byte(head)
		for j := i; j < min(i+webhookBatchEvents, n); j++ {
			line = g.Append(line[:0], int64(j), at.Add(time.Duration(j)*time.Millisecond))
			if !bytes.HasPrefix(line, []byte(prefix)) {
				b.Fatalf("generated line does not start with %s: %.80s", prefix, line)
			}
			if j > i {
				body = append(body, ',')
			}
			body = append(body, '{')
			body = append(body, bytes.TrimSuffix(line[len(prefix):], []byte("\n"))...)
		}
		bodies = append(bodies, append(body, "]}"...))
	}
	return bodies
}

func postBatch(c *http.Client, url string, body []byte) error {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("batch refused: %d %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}

// freeAddr returns an address of 127.0.0.1 whose port was free a moment ago.
func freeAddr(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitListening waits until addr accepts connections (the agent's receiver
// is up).
func waitListening(tb testing.TB, addr string, a *agentProc) {
	tb.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		select {
		case <-a.done:
			tb.Fatalf("agent exited: %s", a.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not listening after 30 s: %s", addr, a.stderr.String())
		}
	}
}
