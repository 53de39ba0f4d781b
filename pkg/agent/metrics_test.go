package agent

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/internal/agenttest"
	"github.com/audittail/audittail/pkg/pipeline"
	"github.com/audittail/audittail/pkg/spool"
	"github.com/audittail/audittail/pkg/webhook"
	"github.com/audittail/audittail/shipper"
	"github.com/audittail/audittail/tailer"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"
)

// testVersion is the version the metrics tests give the server.
const testVersion = "v1.2.3-test"

// metricsNow is the fixed clock of the metrics tests.
var metricsNow = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// fakeStats is a snapshot source the tests change between requests.
type fakeStats struct {
	mu    sync.Mutex
	s     Stats
	calls atomic.Int64
}

func (f *fakeStats) set(s Stats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.s = s
}

func (f *fakeStats) snapshot() Stats {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s
}

// startMetrics serves on 127.0.0.1:0 with the clock fixed at metricsNow and
// returns the base URL. Cleanup shuts the server down and checks that Serve
// returned nil.
func startMetrics(t *testing.T, stall time.Duration, f *fakeStats, log zerolog.Logger) (*metricsServer, string) {
	t.Helper()
	m, err := newMetricsServer("127.0.0.1:0", testVersion, stall, f.snapshot, log)
	if err != nil {
		t.Fatal(err)
	}
	m.stats.now = func() time.Time { return metricsNow }
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve after Shutdown: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
	})
	return m, "http://" + m.Addr()
}

func httpDo(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := httpDo(t, http.MethodGet, base+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

func TestMetricsScrape(t *testing.T) {
	// Every field holds a different value, so a metric wired to the wrong
	// field shows.
	busy := Stats{
		Pipeline: pipeline.Stats{
			Read: 101, Sent: 102, Bytes: 104, ParseErrors: 105, Partial: 106,
			LongLines: 107, Truncated: 108, SkippedBlank: 109, Dropped: 110,
		},
		Tracker: pipeline.TrackerStats{Confirmed: 103, LastConfirmed: time.Unix(1_790_000_000, 250_000_000)},
		Shipper: shipper.Stats{
			Sent: 201, Confirmed: 202, Unconfirmed: 203, UnconfirmedBytes: 204, BytesWritten: 205,
			Resent: 206, Reconnects: 207, Connected: true, LastError: "old error",
			OldestUnconfirmed: metricsNow.Add(-90 * time.Second),
		},
		Tailer: tailer.Stats{
			Rotations: 301, Truncations: 302, InotifyOverflows: 303, LagBytes: 304,
			LostFiles: 305, LostBytes: 306, Polling: true, FilesOpen: 1, Restarts: 307, Pods: 308,
		},
		Checkpoint: checkpoint.Stats{Writes: 401, Errors: 402},
	}
	type metric struct {
		name string
		typ  dto.MetricType
	}
	counter := func(name string) metric { return metric{name, dto.MetricType_COUNTER} }
	gauge := func(name string) metric { return metric{name, dto.MetricType_GAUGE} }
	table := []struct {
		metric
		busy, idle float64
	}{
		{counter("audittail_events_read_total"), 101, 0},
		{counter("audittail_events_sent_total"), 102, 0},
		{counter("audittail_events_dropped_total"), 110, 0},
		{counter("audittail_events_confirmed_total"), 103, 0},
		{counter("audittail_sent_bytes_total"), 104, 0},
		{counter("audittail_parse_errors_total"), 105, 0},
		{counter("audittail_partial_lines_total"), 106, 0},
		{counter("audittail_long_lines_total"), 107, 0},
		{counter("audittail_events_truncated_total"), 108, 0},
		{counter("audittail_blank_lines_total"), 109, 0},
		{gauge("audittail_last_confirmed_timestamp_seconds"), 1_790_000_000.25, 0},
		{gauge("audittail_unconfirmed_events"), 203, 0},
		{gauge("audittail_unconfirmed_bytes"), 204, 0},
		{counter("audittail_written_bytes_total"), 205, 0},
		{counter("audittail_events_replayed_total"), 206, 0},
		{counter("audittail_reconnects_total"), 207, 0},
		{gauge("audittail_output_connected"), 1, 0},
		{gauge("audittail_oldest_unconfirmed_age_seconds"), 90, 0},
		{counter("audittail_rotations_total"), 301, 0},
		{counter("audittail_truncations_total"), 302, 0},
		{counter("audittail_inotify_overflows_total"), 303, 0},
		{gauge("audittail_lag_bytes"), 304, 0},
		{counter("audittail_lost_files_total"), 305, 0},
		{counter("audittail_lost_bytes_total"), 306, 0},
		{gauge("audittail_polling"), 1, 0},
		{gauge("audittail_files_open"), 1, 0},
		{counter("audittail_container_restarts_total"), 307, 0},
		{counter("audittail_pods_followed_total"), 308, 0},
		{counter("audittail_checkpoint_writes_total"), 401, 0},
		{counter("audittail_checkpoint_errors_total"), 402, 0},
	}

	f := &fakeStats{}
	_, base := startMetrics(t, time.Minute, f, zerolog.Nop())
	for _, snap := range []struct {
		name  string
		stats Stats
	}{{"busy", busy}, {"idle", Stats{}}} {
		t.Run(snap.name, func(t *testing.T) {
			f.set(snap.stats)
			before := f.calls.Load()
			fams := scrape(t, base)
			if n := f.calls.Load() - before; n != 1 {
				t.Errorf("one scrape took %d snapshots, want 1", n)
			}
			want := map[string]bool{"audittail_build_info": true}
			for _, m := range table {
				want[m.name] = true
				v := m.busy
				if snap.name == "idle" {
					v = m.idle
				}
				fam := fams[m.name]
				if fam == nil {
					t.Errorf("%s: missing", m.name)
					continue
				}
				if fam.GetType() != m.typ {
					t.Errorf("%s: type %v, want %v", m.name, fam.GetType(), m.typ)
				}
				if fam.GetHelp() == "" {
					t.Errorf("%s: no help text", m.name)
				}
				if len(fam.Metric) != 1 {
					t.Errorf("%s: %d series, want 1", m.name, len(fam.Metric))
					continue
				}
				got := fam.Metric[0].GetGauge().GetValue()
				if m.typ == dto.MetricType_COUNTER {
					got = fam.Metric[0].GetCounter().GetValue()
				}
				if got != v {
					t.Errorf("%s = %v, want %v", m.name, got, v)
				}
			}
			for name := range fams {
				if strings.HasPrefix(name, "audittail_") && !want[name] {
					t.Errorf("unexpected metric %s", name)
				}
			}

			bi := fams["audittail_build_info"]
			if bi == nil || len(bi.Metric) != 1 {
				t.Fatalf("audittail_build_info: %v", bi)
			}
			labels := map[string]string{}
			for _, l := range bi.Metric[0].Label {
				labels[l.GetName()] = l.GetValue()
			}
			if bi.GetType() != dto.MetricType_GAUGE || bi.Metric[0].GetGauge().GetValue() != 1 ||
				len(labels) != 2 || labels["version"] != testVersion || labels["goversion"] != runtime.Version() {
				t.Errorf("audittail_build_info = %v", bi)
			}
			if fams["go_goroutines"] == nil {
				t.Error("no Go runtime metrics (go_goroutines)")
			}
			if runtime.GOOS == "linux" && fams["process_start_time_seconds"] == nil {
				t.Error("no process metrics (process_start_time_seconds)")
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	f := &fakeStats{}
	_, base := startMetrics(t, time.Minute, f, zerolog.Nop())
	tests := []struct {
		name string
		sh   shipper.Stats
		code int
		body string
	}{
		{"connected, all confirmed", shipper.Stats{Connected: true}, 200, "ready"},
		{"connected, confirming", shipper.Stats{Connected: true, Unconfirmed: 5, OldestUnconfirmed: metricsNow.Add(-59 * time.Second)}, 200, "ready"},
		{"not connected yet", shipper.Stats{}, 503, "not connected"},
		{"disconnected", shipper.Stats{LastError: "dial tcp 10.0.0.1:12202: connect: connection refused", LastReason: "connection refused"}, 503,
			"not connected: connection refused"},
		// Only the short reason: the full error may quote what the server sent.
		{"server answer not shown", shipper.Stats{LastError: `POST http://x/gelf: server answered 401 Unauthorized: "echo of the request"`,
			LastReason: "server answered 401 Unauthorized"}, 503, "not connected: server answered 401 Unauthorized"},
		{"stalled", shipper.Stats{Connected: true, Unconfirmed: 12, OldestUnconfirmed: metricsNow.Add(-(3*time.Minute + 2*time.Second + 300*time.Millisecond))}, 503,
			"stalled: oldest unconfirmed event is 3m2s old (12 events unconfirmed)"},
		{"stalled at the limit", shipper.Stats{Connected: true, Unconfirmed: 1, OldestUnconfirmed: metricsNow.Add(-time.Minute)}, 503,
			"stalled: oldest unconfirmed event is 1m0s old (1 events unconfirmed)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.set(Stats{Shipper: tt.sh})
			resp, body := httpDo(t, http.MethodGet, base+"/readyz")
			if resp.StatusCode != tt.code || body != tt.body+"\n" {
				t.Errorf("GET /readyz = %d %q, want %d %q", resp.StatusCode, body, tt.code, tt.body+"\n")
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q", ct)
			}
			resp, body = httpDo(t, http.MethodHead, base+"/readyz")
			if resp.StatusCode != tt.code || body != "" {
				t.Errorf("HEAD /readyz = %d %q, want %d and no body", resp.StatusCode, body, tt.code)
			}
		})
	}
}

func TestReadyzNoStallTimeout(t *testing.T) {
	f := &fakeStats{}
	f.set(Stats{Shipper: shipper.Stats{Connected: true, Unconfirmed: 3, OldestUnconfirmed: metricsNow.Add(-time.Hour)}})
	_, base := startMetrics(t, 0, f, zerolog.Nop())
	if resp, body := httpDo(t, http.MethodGet, base+"/readyz"); resp.StatusCode != 200 {
		t.Errorf("GET /readyz with the stall check off = %d %q, want 200", resp.StatusCode, body)
	}
}

func TestHealthzAndRoutes(t *testing.T) {
	f := &fakeStats{}
	f.set(Stats{}) // not connected: liveness must not care
	_, base := startMetrics(t, time.Minute, f, zerolog.Nop())

	tests := []struct {
		method, path string
		code         int
		body         string // "" for any
	}{
		{"GET", "/healthz", 200, "ok\n"},
		{"HEAD", "/healthz", 200, ""},
		{"GET", "/", 200, ""},
		{"HEAD", "/metrics", 200, ""},
		{"GET", "/nope", 404, ""},
		{"GET", "/metrics/x", 404, ""},
		{"POST", "/healthz", 405, ""},
		{"POST", "/readyz", 405, ""},
		{"POST", "/metrics", 405, ""},
		{"PUT", "/", 405, ""},
		{"DELETE", "/metrics", 405, ""},
	}
	for _, tt := range tests {
		resp, body := httpDo(t, tt.method, base+tt.path)
		if resp.StatusCode != tt.code || (tt.body != "" && body != tt.body) {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, body, tt.code, tt.body)
		}
		if tt.code == 405 && !strings.Contains(resp.Header.Get("Allow"), "GET") {
			t.Errorf("%s %s: Allow %q", tt.method, tt.path, resp.Header.Get("Allow"))
		}
	}

	_, index := httpDo(t, "GET", base+"/")
	for _, p := range []string{"/metrics", "/healthz", "/readyz", testVersion} {
		if !strings.Contains(index, p) {
			t.Errorf("index does not mention %s:\n%s", p, index)
		}
	}
}

func TestMetricsLogsListening(t *testing.T) {
	var buf agenttest.Buffer
	m, _ := startMetrics(t, time.Minute, &fakeStats{}, zerolog.New(&buf))
	// Serve logs from its own goroutine: wait for the line.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "metrics listening") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	line := buf.String()
	for _, want := range []string{`"component":"metrics"`, `"addr":"` + m.Addr() + `"`, `"message":"metrics listening"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log %q lacks %s", line, want)
		}
	}
}

func TestMetricsBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	m, err := newMetricsServer(addr, testVersion, time.Minute, (&fakeStats{}).snapshot, zerolog.Nop())
	if err == nil {
		m.Shutdown(context.Background())
		t.Fatalf("listening on busy %s succeeded", addr)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q does not name %s and the cause", err, addr)
	}
	if _, err := newMetricsServer("", testVersion, time.Minute, (&fakeStats{}).snapshot, zerolog.Nop()); err == nil {
		t.Error("an empty address was accepted")
	}
}

func TestMetricsShutdown(t *testing.T) {
	m, err := newMetricsServer("127.0.0.1:0", testVersion, time.Minute, (&fakeStats{}).snapshot, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	addr := m.Addr()
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	if resp, _ := httpDo(t, "GET", "http://"+addr+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("GET /healthz = %s", resp.Status)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve returned %v after Shutdown, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("still accepting connections after Shutdown")
	}
}

func TestMetricsShutdownBeforeServe(t *testing.T) {
	m, err := newMetricsServer("127.0.0.1:0", testVersion, time.Minute, (&fakeStats{}).snapshot, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := m.Serve(); err != nil {
		t.Errorf("Serve after Shutdown = %v, want nil", err)
	}
	// The port is free again.
	m2, err := newMetricsServer(m.Addr(), testVersion, time.Minute, (&fakeStats{}).snapshot, zerolog.Nop())
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	m2.Shutdown(context.Background())
}

func TestMetricsShutdownDeadline(t *testing.T) {
	m, err := newMetricsServer("127.0.0.1:0", testVersion, time.Minute, (&fakeStats{}).snapshot, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	// A client that sends half a request holds its connection open.
	c, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the server take the connection
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := m.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a busy client = %v, want %v", err, context.DeadlineExceeded)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("the slow client's connection is still open")
	}
}

// With the webhook receiver: /readyz/webhook says whether batches are
// taken (a full or broken spool: 503), whatever the log server does;
// /readyz also fails on a broken spool; the per-receiver series and the
// per-log ones appear.
func TestReadyzWebhook(t *testing.T) {
	f := &fakeStats{}
	_, base := startMetrics(t, time.Minute, f, zerolog.Nop())
	if resp, _ := httpDo(t, http.MethodGet, base+"/readyz/webhook"); resp.StatusCode != 404 {
		t.Fatalf("/readyz/webhook without a receiver: %d, want 404", resp.StatusCode)
	}
	for _, tt := range []struct {
		name        string
		sp          spool.Stats
		sh          shipper.Stats
		code, ready int
		body        string
	}{
		{"taking batches, log server away", spool.Stats{Bytes: 10}, shipper.Stats{}, 200, 503, "ready"},
		{"full", spool.Stats{Full: true}, shipper.Stats{Connected: true}, 503, 200, "spool full: the log server has not confirmed events for a long time; batches are refused with 429"},
		{"broken", spool.Stats{Broken: true}, shipper.Stats{Connected: true}, 503, 503, "spool broken: a failed write could not be undone; restart the agent"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sp := tt.sp
			f.set(Stats{Shipper: tt.sh, Webhook: &webhook.Stats{Refused: map[string]uint64{"no_token": 2}}, Spool: &sp,
				Logs: []LogStats{{Log: "/var/log/a/audit.log"}, {Log: "webhook"}}})
			resp, body := httpDo(t, http.MethodGet, base+"/readyz/webhook")
			if resp.StatusCode != tt.code || body != tt.body+"\n" {
				t.Errorf("GET /readyz/webhook = %d %q, want %d %q", resp.StatusCode, body, tt.code, tt.body)
			}
			if resp, _ := httpDo(t, http.MethodGet, base+"/readyz"); resp.StatusCode != tt.ready {
				t.Errorf("GET /readyz = %d, want %d", resp.StatusCode, tt.ready)
			}
			_, page := httpDo(t, http.MethodGet, base+"/metrics")
			for _, want := range []string{`audittail_webhook_refused_total{reason="no_token"} 2`, `audittail_log_lag_bytes{log="webhook"} 0`,
				`audittail_spool_broken ` + map[bool]string{true: "1", false: "0"}[tt.sp.Broken]} {
				if !strings.Contains(page, want+"\n") {
					t.Errorf("/metrics lacks %q", want)
				}
			}
		})
	}
}
