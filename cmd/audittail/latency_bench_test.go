package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/auditgen"
	"github.com/audittail/audittail/internal/gelftest"
)

// liveRate is the rate at which BenchmarkLiveLatency appends events, per
// second.
const liveRate = 5000

// BenchmarkLiveLatency measures how old an event is when it reaches the
// server while the agent follows a live log. The built agent runs with
// default settings over tls:// on an audit.log that is empty when it
// starts; once it has shipped a first event (it is then connected, past the
// start-up check of the TLS session, and following the file; that event's
// latency is left out), the other b.N-1 events from internal/auditgen are
// appended at a steady liveRate (5,000/s), paced against the clock, each
// with its own write(2) on an O_APPEND descriptor, as kube-apiserver's log
// backend does, and each with its stageTimestamp set to the time just
// before that write. The server records, for every message, its arrival
// time minus its GELF timestamp (the stageTimestamp, to the microsecond).
//
// It reports the 50th and 99th percentile and the largest latency, the
// write rate achieved (below liveRate if the writer fell behind), the
// agent's CPU-seconds per 100k events and peak RSS, and the server's
// count, which must be b.N.
//
//	make bench    # 50,000 events, 10 s
//	go test -run '^$' -bench LiveLatency -benchtime 50000x ./cmd/audittail
func BenchmarkLiveLatency(b *testing.B) {
	logPath := filepath.Join(b.TempDir(), "audit.log")
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatalf("create audit log: %v", err)
	}
	defer f.Close()
	r := startBenchAgent(b, "live-tls", "tls", logPath, gelftest.Options{CountOnly: true, Latencies: true})
	g := auditgen.New(auditgen.Config{})
	if err := appendPaced(f, g, 0, 1, liveRate); err != nil {
		b.Fatal(err)
	}
	r.waitCount(b, 1, time.Minute)

	b.ResetTimer()
	start := time.Now()
	if err := appendPaced(f, g, 1, b.N, liveRate); err != nil {
		b.Fatal(err)
	}
	writing := time.Since(start)
	r.waitCount(b, b.N, time.Minute)
	b.StopTimer()
	r.stop(b)

	lats := r.srv.Latencies()
	if len(lats) != b.N {
		b.Fatalf("%d latencies for %d events: some GELF timestamps could not be read", len(lats), b.N)
	}
	lats = lats[1:] // the first event, written before the agent was ready
	if len(lats) == 0 {
		return
	}
	slices.Sort(lats)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lats[(len(lats)-1)*50/100]), "p50-ms")
	b.ReportMetric(ms(lats[(len(lats)-1)*99/100]), "p99-ms")
	b.ReportMetric(ms(lats[len(lats)-1]), "max-ms")
	b.ReportMetric(float64(b.N-1)/writing.Seconds(), "events/s")
}

// appendPaced appends events seq first to n-1 from g to f at rate per
// second: every millisecond it writes the events due by then, one Write
// each, each with its stageTimestamp set to the time just before its Write.
func appendPaced(f io.Writer, g *auditgen.Generator, first, n, rate int) error {
	var line []byte
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for seq := first; seq < n; <-tick.C {
		due := min(n, first+int(time.Since(start).Seconds()*float64(rate))+1)
		for ; seq < due; seq++ {
			line = g.Append(line[:0], int64(seq), time.Now())
			if err := restamp(line, time.Now()); err != nil {
				return fmt.Errorf("event %d: %w", seq, err)
			}
			if _, err := f.Write(line); err != nil {
				return fmt.Errorf("append event %d: %w", seq, err)
			}
		}
	}
	return nil
}

const microTime = "2006-01-02T15:04:05.000000Z" // apimachinery's MicroTime, as auditgen writes it

var stageKey = []byte(`"stageTimestamp":"`)

// restamp overwrites the stageTimestamp of an auditgen line with t, in
// place. auditgen sets it a few milliseconds after the `at` given to
// Append (the request's latency inside the apiserver), in the future at
// the time of the write; the benchmark wants the time of the write. The
// last such key is the event's own: auditgen writes it after the request
// and response bodies, and only escaped annotation values follow.
func restamp(line []byte, t time.Time) error {
	i := bytes.LastIndex(line, stageKey)
	if i < 0 || len(line) < i+len(stageKey)+len(microTime)+1 || line[i+len(stageKey)+len(microTime)] != '"' {
		return fmt.Errorf("no stageTimestamp of %d characters in %.200q", len(microTime), line)
	}
	// Formatted aside, then copied: AppendFormat may write past the end of
	// what it returns (fractions are formatted to 9 digits, then cut), which
	// in place would overwrite the bytes after the timestamp.
	var ts [len(microTime)]byte
	copy(line[i+len(stageKey):], t.UTC().AppendFormat(ts[:0], microTime))
	return nil
}

// BenchmarkHugeLines is BenchmarkEndToEnd over tls:// with 10 MiB lines in
// the mix: about one line in 20,000 is a RequestResponse "list pods" of
// exactly 10 MiB (about 10 in a 200,000-event run), which the agent reads
// whole (max_line_bytes is 16 MiB) and ships as one message of at most
// max_message_bytes (256 KiB). Its peak RSS shows what such lines cost.
//
//	make bench    # 200,000 events
//	go test -run '^$' -bench HugeLines -benchtime 200000x ./cmd/audittail
func BenchmarkHugeLines(b *testing.B) {
	benchShipFile(b, "huge-tls", "tls", auditgen.Config{HugeLineBytes: 10 << 20, HugeEvery: 20000})
}
