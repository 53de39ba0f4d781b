package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/agenttest"
	"github.com/audittail/audittail/internal/auditgen"
	"github.com/audittail/audittail/shipper/gelftest"
)

// BenchmarkEndToEnd runs the built binary over a file of b.N realistic
// audit events from internal/auditgen (about 1.7 KB on average: mostly
// Metadata, some Request/RequestResponse with bodies up to 1 MiB, watch
// stage pairs, error codes, unicode) to a GELF test server on 127.0.0.1,
// once over tcp:// and once over tls://, with default settings (raw event
// in full_message), and reports events/s, input MB/s, the agent's
// CPU-seconds per 100k events and its peak RSS. The server must count
// exactly b.N messages.
//
//	make bench    # 1,000,000 events
//	go test -run '^$' -bench EndToEnd -benchtime 200000x ./cmd/audittail
//
// BENCH_PROFILE_DIR=DIR also writes the agent's CPU profile there.
func BenchmarkEndToEnd(b *testing.B) {
	for _, transport := range []string{"tcp", "tls"} {
		b.Run(transport, func(b *testing.B) {
			dir := b.TempDir()
			logPath := filepath.Join(dir, "audit.log")
			size, err := auditgen.WriteFile(logPath, b.N, auditgen.Config{})
			if err != nil {
				b.Fatal(err)
			}
			opts := gelftest.Options{CountOnly: true}
			var extra []string
			if transport == "tls" {
				pki := gelftest.NewPKI(b)
				opts.TLS = pki.ServerTLS(tls.NoClientCert)
				extra = []string{"--ca-cert", pki.CAFile}
			}
			srv := gelftest.NewServer(b, opts)
			args := append([]string{"--path", logPath, "--endpoint", srv.Endpoint(),
				"--checkpoint", filepath.Join(dir, "ckpt.json"), "--log-level", "warn"}, extra...)

			b.ResetTimer()
			start := time.Now()
			var env []string
			if dir := os.Getenv("BENCH_PROFILE_DIR"); dir != "" { // go tool pprof DIR/cpu-tls.pprof
				env = append(env, "AUDITTAIL_CPUPROFILE="+filepath.Join(dir, "cpu-"+transport+".pprof"))
			}
			a := startAgent(b, env, args...)
			for deadline := time.Now().Add(10 * time.Minute); srv.Count() < b.N; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatalf("server counted %d of %d events", srv.Count(), b.N)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			rss := agenttest.PeakRSS(a.cmd.Process.Pid)
			if code := a.stop(b, syscall.SIGTERM); code != 0 {
				b.Fatalf("exit code %d", code)
			}
			ru := a.cmd.ProcessState.SysUsage().(*syscall.Rusage)
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			b.ReportMetric(float64(srv.Count()), "server-count")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(size)/1e6/elapsed.Seconds(), "MB/s")
			b.ReportMetric(cpu.Seconds()*100000/float64(b.N), "cpu-s/100k")
			b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
			if srv.Count() != b.N {
				b.Fatalf("server counted %d, want %d", srv.Count(), b.N)
			}
		})
	}
}
