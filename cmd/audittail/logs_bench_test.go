package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/auditgen"
	"github.com/audittail/audittail/internal/gelftest"
)

// BenchmarkSeveralLogs is BenchmarkEndToEnd/tls with the b.N events split
// over three logs (OpenShift's layout) followed by one agent: it reports
// the same figures, to compare with the one-log run.
//
//	go test -run '^$' -bench SeveralLogs -benchtime 300000x ./cmd/audittail
func BenchmarkSeveralLogs(b *testing.B) {
	dir := b.TempDir()
	var args []string
	var size int64
	for i, name := range []string{"kube-apiserver", "openshift-apiserver", "oauth-apiserver"} {
		p := filepath.Join(dir, name, "audit.log")
		n := b.N / 3
		if i == 0 {
			n += b.N % 3
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			b.Fatal(err)
		}
		sz, err := auditgen.WriteFile(p, n, auditgen.Config{Seed: int64(i + 1)})
		if err != nil {
			b.Fatal(err)
		}
		size += sz
		args = append(args, "--path", p)
	}
	pki := gelftest.NewPKI(b)
	opts := gelftest.Options{CountOnly: true, TLS: pki.ServerTLS(0)}
	srv := gelftest.NewServer(b, opts)
	args = append(args, "--endpoint", srv.Endpoint(), "--ca-cert", pki.CAFile,
		"--checkpoint", filepath.Join(dir, "ckpt.json"), "--log-level", "warn")
	b.ResetTimer()
	start := time.Now()
	r := &benchAgent{srv: srv, a: startAgent(b, nil, args...)}
	r.waitCount(b, b.N, 10*time.Minute)
	elapsed := time.Since(start)
	b.StopTimer()
	r.stop(b)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(size)/1e6/elapsed.Seconds(), "MB/s")
}
