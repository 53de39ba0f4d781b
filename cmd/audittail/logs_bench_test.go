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

// BenchmarkContainerLog is BenchmarkEndToEnd/tls with the b.N events in a
// container log (--format cri) as containerd writes it: one
// "<time> stdout F <line>" per event, lines over 16 KiB in 16 KiB P
// fragments, and a klog line on stderr every tenth event.
//
//	go test -run '^$' -bench ContainerLog -benchtime 300000x ./cmd/audittail
func BenchmarkContainerLog(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "kube-system_kube-apiserver-cp1_0123", "kube-apiserver")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "0.log"))
	if err != nil {
		b.Fatal(err)
	}
	g := auditgen.New(auditgen.Config{})
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	var line, out []byte
	var size int64
	phys := func(stream, tag string, text []byte) {
		out = at.AppendFormat(out[:0], time.RFC3339Nano)
		out = append(append(append(append(append(out, ' '), stream...), ' '), tag...), ' ')
		out = append(append(out, text...), '\n')
		if _, err := f.Write(out); err != nil {
			b.Fatal(err)
		}
		size += int64(len(out))
	}
	for i := range b.N {
		line = g.Append(line[:0], int64(i), at.Add(time.Duration(i)*time.Millisecond))
		text := line[:len(line)-1]
		for len(text) > 16384 {
			phys("stdout", "P", text[:16384])
			text = text[16384:]
		}
		phys("stdout", "F", text)
		if i%10 == 0 {
			phys("stderr", "F", []byte("E1206 10:00:00.000000       1 controller.go:113] loading OpenAPI spec failed"))
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	pki := gelftest.NewPKI(b)
	srv := gelftest.NewServer(b, gelftest.Options{CountOnly: true, TLS: pki.ServerTLS(0)})
	b.ResetTimer()
	start := time.Now()
	r := &benchAgent{srv: srv, a: startAgent(b, nil, "--format", "cri", "--path", dir, "--endpoint", srv.Endpoint(),
		"--ca-cert", pki.CAFile, "--checkpoint", filepath.Join(filepath.Dir(dir), "ckpt.json"), "--log-level", "warn")}
	r.waitCount(b, b.N, 10*time.Minute)
	elapsed := time.Since(start)
	b.StopTimer()
	r.stop(b)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(size)/1e6/elapsed.Seconds(), "MB/s")
}
