package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/agenttest"
	"github.com/audittail/audittail/internal/auditgen"
	"github.com/audittail/audittail/internal/gelftest"
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
			benchShipFile(b, transport, transport, auditgen.Config{})
		})
	}
}

// benchShipFile writes b.N events generated with cfg to a file, runs the
// agent over it from its beginning to a server over transport ("tcp" or
// "tls") until the server has counted them all, and reports events/s and
// input MB/s (from the agent's start to the last message's arrival) and
// what benchAgent.stop reports. name names the CPU profile
// (BENCH_PROFILE_DIR/cpu-NAME.pprof).
func benchShipFile(b *testing.B, name, transport string, cfg auditgen.Config) {
	logPath := filepath.Join(b.TempDir(), "audit.log")
	size, err := auditgen.WriteFile(logPath, b.N, cfg)
	if err != nil {
		b.Fatalf("generate %s: %v", logPath, err)
	}
	b.ResetTimer()
	start := time.Now()
	r := startBenchAgent(b, name, transport, logPath, gelftest.Options{CountOnly: true})
	r.waitCount(b, b.N, 10*time.Minute)
	elapsed := time.Since(start)
	b.StopTimer()
	r.stop(b)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(size)/1e6/elapsed.Seconds(), "MB/s")
}

// benchAgent is the built agent and a GELF test server on 127.0.0.1, run
// by a benchmark.
type benchAgent struct {
	srv *gelftest.Server
	a   *agentProc
}

// startBenchAgent starts a GELF server with opts (over TLS, with a
// throw-away PKI, when transport is "tls") and the agent on logPath with
// default settings (a new checkpoint, so from the file's beginning, and
// warnings only in its log). name names the CPU profile written with
// BENCH_PROFILE_DIR=DIR (DIR/cpu-NAME.pprof).
func startBenchAgent(b *testing.B, name, transport, logPath string, opts gelftest.Options) *benchAgent {
	b.Helper()
	var extra []string
	if transport == "tls" {
		pki := gelftest.NewPKI(b)
		opts.TLS = pki.ServerTLS(tls.NoClientCert)
		extra = []string{"--ca-cert", pki.CAFile}
	}
	srv := gelftest.NewServer(b, opts)
	args := append([]string{"--path", logPath, "--endpoint", srv.Endpoint(),
		"--checkpoint", filepath.Join(filepath.Dir(logPath), "ckpt.json"), "--log-level", "warn"}, extra...)
	var env []string
	if dir := os.Getenv("BENCH_PROFILE_DIR"); dir != "" { // go tool pprof DIR/cpu-tls.pprof
		env = append(env, "AUDITTAIL_CPUPROFILE="+filepath.Join(dir, "cpu-"+name+".pprof"))
	}
	if extra := os.Getenv("BENCH_AGENT_ENV"); extra != "" { // KEY=VALUE,... for the agent only
		env = append(env, strings.Split(extra, ",")...)
	}
	return &benchAgent{srv: srv, a: startAgent(b, env, args...)}
}

// waitCount waits until the server counted at least n messages; it fails
// the benchmark after timeout.
func (r *benchAgent) waitCount(b *testing.B, n int, timeout time.Duration) {
	b.Helper()
	for deadline := time.Now().Add(timeout); r.srv.Count() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("server counted %d of %d events after %s", r.srv.Count(), n, timeout)
		}
	}
}

// stop stops the agent with SIGTERM (it must exit 0), reports
// server-count, the agent's CPU-seconds (user + system) per 100k of b.N
// events and its peak RSS, and fails unless the server counted exactly
// b.N messages and the agent read every line as an audit event (a line
// shipped raw, flagged _parse_error, takes another path and would make the
// figures, and the latencies, meaningless).
func (r *benchAgent) stop(b *testing.B) {
	b.Helper()
	cpu := r.finish(b, b.N)
	b.ReportMetric(cpu.Seconds()*100000/float64(b.N), "cpu-s/100k")
}

// finish stops the agent with SIGTERM (it must exit 0), reports
// server-count and the agent's peak RSS, fails unless the server counted
// exactly n messages and the agent read every line as an audit event, and
// returns the CPU time (user + system) the agent used in all.
func (r *benchAgent) finish(b *testing.B, n int) time.Duration {
	b.Helper()
	rss := agenttest.PeakRSS(r.a.cmd.Process.Pid)
	if code := r.a.stop(b, syscall.SIGTERM); code != 0 {
		b.Fatalf("agent exit code %d", code)
	}
	ru := r.a.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	count := r.srv.Count()
	b.ReportMetric(float64(count), "server-count")
	b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
	if count != n {
		b.Fatalf("server counted %d, want %d", count, n)
	}
	if log := r.a.stderr.String(); strings.Contains(log, "not a valid audit event") {
		b.Fatalf("the agent could not parse some lines:\n%s", agenttest.Tail(log, 3000))
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
