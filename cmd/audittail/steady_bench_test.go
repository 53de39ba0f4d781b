package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/auditgen"
	"github.com/audittail/audittail/internal/gelftest"
	"gopkg.in/natefinch/lumberjack.v2"
)

// steadyRates are the rates BenchmarkSteady runs at, in events per second:
// 0 is an idle agent (no event at all during the run).
var steadyRates = []int{0, 100, 1000, 5000}

// BenchmarkSteady measures what the agent costs at the steady rates a
// control-plane node spends its life at. For each rate, the built agent
// follows an audit log written the way kube-apiserver writes it: through
// lumberjack (1 MB files, gzip of the rotated ones), one Write per event,
// events from internal/auditgen, each with its stageTimestamp set to the
// time of its write; it ships over tls:// to a GELF server on 127.0.0.1.
// Once a first event has arrived (the agent is connected and following the
// file), the events are written at the rate for STEADY_SECONDS (default
// 30) and the agent's CPU time (user and system, from /proc, summed over
// its threads) is taken from then until the last event arrived.
//
// It reports the agent's CPU-seconds per 100k events and its share of one
// core, the p50, p99 and largest latency from write to arrival at the
// server, the rate achieved and the agent's peak RSS; "idle" reports only
// the share of a core, over STEADY_SECONDS without any event.
//
//	make bench
//	STEADY_SECONDS=10 go test -run '^$' -bench Steady -benchtime 1x ./cmd/audittail
func BenchmarkSteady(b *testing.B) {
	d := 30 * time.Second
	if s := os.Getenv("STEADY_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("STEADY_SECONDS=%q: want a number of seconds", s)
		}
		d = time.Duration(n) * time.Second
	}
	for _, rate := range steadyRates {
		name := "idle"
		if rate > 0 {
			name = strconv.Itoa(rate) + "-per-s"
		}
		b.Run(name, func(b *testing.B) { benchSteady(b, rate, d) })
	}
}

func benchSteady(b *testing.B, rate int, d time.Duration) {
	logPath := filepath.Join(b.TempDir(), "audit.log")
	lj := &lumberjack.Logger{Filename: logPath, MaxSize: 1, Compress: true}
	defer lj.Close()
	r := startBenchAgent(b, "steady-"+strconv.Itoa(rate), "tls", logPath, gelftest.Options{CountOnly: true, Latencies: true})
	// Bodies up to 512 KiB: lumberjack refuses a write larger than its
	// MaxSize (1 MB here), and the generator's largest bodies are 1 MiB.
	g := auditgen.New(auditgen.Config{MaxBodyBytes: 512 << 10})
	if err := appendPaced(lj, g, 0, 1, 1000); err != nil {
		b.Fatal(err)
	}
	r.waitCount(b, 1, time.Minute)
	time.Sleep(time.Second) // the first confirmation and checkpoint write are behind

	pid := r.a.cmd.Process.Pid
	cpu0 := processCPU(b, pid)
	start := time.Now()
	n := 1 + int(float64(rate)*d.Seconds())
	if rate == 0 {
		time.Sleep(d)
	} else if err := appendPaced(lj, g, 1, n, rate); err != nil {
		b.Fatal(err)
	}
	writing := time.Since(start)
	r.waitCount(b, n, time.Minute)
	cpu := processCPU(b, pid) - cpu0
	b.ReportMetric(100*cpu.Seconds()/writing.Seconds(), "%core")
	if rate > 0 {
		b.ReportMetric(cpu.Seconds()*100000/float64(n-1), "cpu-s/100k")
		lats := r.srv.Latencies()[1:] // the first event, written before the measure
		slices.Sort(lats)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(lats[(len(lats)-1)*50/100]), "p50-ms")
		b.ReportMetric(ms(lats[(len(lats)-1)*99/100]), "p99-ms")
		b.ReportMetric(ms(lats[len(lats)-1]), "max-ms")
		b.ReportMetric(float64(n-1)/writing.Seconds(), "events/s")
	}
	r.finish(b, n)
}

// processCPU returns the CPU time (user and system) the process's threads
// have used, from /proc/PID/task/*/schedstat (nanoseconds, unlike the
// clock ticks of /proc/PID/stat, which are too coarse for an idle agent).
func processCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	if err != nil || len(tasks) == 0 {
		b.Fatalf("read the agent's CPU time: no /proc/%d/task/*/schedstat (%v)", pid, err)
	}
	var total time.Duration
	for _, t := range tasks {
		s, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that ended
		}
		f := strings.Fields(string(s))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			b.Fatalf("read %s: %q", t, s)
		}
		total += time.Duration(ns)
	}
	return total
}
