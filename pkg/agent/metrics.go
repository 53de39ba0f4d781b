package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/pkg/pipeline"
	"github.com/audittail/audittail/pkg/process"
	"github.com/audittail/audittail/pkg/spool"
	"github.com/audittail/audittail/pkg/webhook"
	"github.com/audittail/audittail/shipper"
	"github.com/audittail/audittail/tailer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Stats is one snapshot of every part's counters.
type Stats struct {
	Pipeline   pipeline.Stats
	Tracker    pipeline.TrackerStats
	Shipper    shipper.Stats
	Tailer     tailer.Stats
	Checkpoint checkpoint.Stats
	Process    process.Stats
	Webhook    *webhook.Stats // nil without the webhook receiver
	Spool      *spool.Stats   // nil without the webhook receiver
	// Logs are each input's tailer counters (Tailer adds them up), by
	// the name its messages carry in _log.
	Logs []LogStats
}

// LogStats are one input's tailer counters.
type LogStats struct {
	Log    string // the log's path, or "webhook" for the spool
	Tailer tailer.Stats
}

// metricsServer serves /metrics (Prometheus), /healthz (liveness) and
// /readyz (readiness) over plain HTTP. Every scrape and every readiness probe
// reads a fresh snapshot; the server keeps no counters of its own.
type metricsServer struct {
	ln    net.Listener
	srv   *http.Server
	stats *agentCollector
	stall time.Duration
	log   zerolog.Logger
}

// newMetricsServer listens on addr ("HOST:PORT") at once, so that a busy
// port is a start-up error naming the address, but does not serve until
// Serve. /readyz fails once the oldest unconfirmed message is stallTimeout
// old (never, if stallTimeout <= 0). snapshot is called once per scrape and
// once per readiness probe, from any goroutine. log is the root logger; the
// server adds component=metrics.
func newMetricsServer(addr, version string, stallTimeout time.Duration, snapshot func() Stats, log zerolog.Logger) (*metricsServer, error) {
	if addr == "" {
		return nil, errors.New("metrics: no listen address")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err // the address is in our own message
		}
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	log = log.With().Str("component", "metrics").Logger()
	m := &metricsServer{
		ln:    ln,
		stats: newAgentCollector(snapshot, version),
		stall: stallTimeout,
		log:   log,
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(m.stats, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: metricsLog{log},
		// A failing Go or process collector must not hide the agent's own
		// metrics: serve what was gathered, log the rest.
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            reg, // promhttp_metric_handler_errors_total
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", m.readyz)
	mux.HandleFunc("GET /readyz/webhook", m.readyzWebhook)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "audittail "+version+"\n"+
			"/metrics  Prometheus metrics\n"+
			"/healthz  liveness: 200 while the process runs\n"+
			"/readyz   readiness: 200 while connected and the server confirms in time\n"+
			"/readyz/webhook  the webhook receiver's readiness: 200 while it accepts batches")
	})

	m.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          stdlog.New(metricsLog{log}, "", 0),
	}
	return m, nil
}

// Addr is the address listened on, with the actual port when addr asked for
// port 0.
func (m *metricsServer) Addr() string { return m.ln.Addr().String() }

// Run answers requests until ctx ends, then stops listening, waits up to a
// second for the requests in progress, and returns nil. It returns an
// error if serving fails before.
func (m *metricsServer) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = m.Shutdown(sctx)
		cancel()
	})
	defer stop()
	return m.Serve()
}

// Serve answers requests until Shutdown, then returns nil. Call it once.
func (m *metricsServer) Serve() error {
	m.log.Info().Str("addr", m.Addr()).Msg("metrics listening")
	if err := m.srv.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve on %s: %w", m.Addr(), err)
	}
	return nil
}

// Shutdown stops listening and waits for requests in progress to end. If ctx
// ends first, it closes the remaining connections and returns ctx's error. It
// also releases the port when Serve was never called.
func (m *metricsServer) Shutdown(ctx context.Context) error {
	err := m.srv.Shutdown(ctx)
	if err != nil {
		m.srv.Close()
	}
	if cerr := m.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
		err = cerr
	}
	return err
}

func (m *metricsServer) readyz(w http.ResponseWriter, _ *http.Request) {
	s := m.stats.snapshot()
	ok, reason := readiness(s.Shipper, m.stats.now(), m.stall)
	if ok && s.Spool != nil && s.Spool.Broken {
		// The agent itself cannot take webhook batches: not ready, whatever
		// the log server does. (A full spool is the log server's absence,
		// which the output's state already says.)
		ok, reason = false, "webhook spool broken: a failed write could not be undone; restart the agent"
	}
	if !ok {
		writeText(w, http.StatusServiceUnavailable, reason)
		return
	}
	writeText(w, http.StatusOK, "ready")
}

// readyzWebhook answers 200 while the webhook receiver accepts batches:
// its spool is neither full nor broken. It does not depend on the log
// server: the spool is what takes batches while the server is away, so a
// Service in front of the receiver must keep sending to it then.
func (m *metricsServer) readyzWebhook(w http.ResponseWriter, _ *http.Request) {
	s := m.stats.snapshot()
	if s.Webhook == nil || s.Spool == nil {
		writeText(w, http.StatusNotFound, "the webhook receiver is off")
		return
	}
	if ok, reason := webhookReadiness(*s.Spool); !ok {
		writeText(w, http.StatusServiceUnavailable, reason)
		return
	}
	writeText(w, http.StatusOK, "ready")
}

// readiness reports whether the agent is shipping: connected, and the
// server confirming messages in time. When not, reason says why in one line.
func readiness(s shipper.Stats, now time.Time, stall time.Duration) (ready bool, reason string) {
	if !s.Connected {
		// Only the short reason: /readyz answers anyone who can reach it,
		// and the full error (in the log) may quote what the server sent.
		if s.LastReason == "" {
			return false, "not connected"
		}
		return false, "not connected: " + s.LastReason
	}
	if stall > 0 && s.Unconfirmed > 0 && !s.OldestUnconfirmed.IsZero() {
		if age := now.Sub(s.OldestUnconfirmed); age >= stall {
			return false, fmt.Sprintf("stalled: oldest unconfirmed event is %s old (%d events unconfirmed)",
				age.Round(time.Second), s.Unconfirmed)
		}
	}
	return true, ""
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func writeText(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, body+"\n")
}

// metricsLog feeds net/http's and promhttp's error logs into zerolog.
type metricsLog struct{ log zerolog.Logger }

// Write takes net/http's log lines: mostly misbehaving clients.
func (l metricsLog) Write(p []byte) (int, error) {
	l.log.Warn().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Println takes promhttp's errors: failed collections or encodings.
func (l metricsLog) Println(v ...any) {
	l.log.Error().Msg(oneLine(fmt.Sprintln(v...)))
}

// agentCollector turns a snapshot of the components' own counters into
// constant metrics at each scrape.
type agentCollector struct {
	snapshot func() Stats
	now      func() time.Time // time.Now; tests fix it
	metrics  []agentMetric
	build    *prometheus.Desc
	version  string

	policyEvents, policySaved, redactions *prometheus.Desc
	webhook                               webhookDescs
	perLog                                []logMetric
}

// logMetric is one series per log, read from a snapshot's Logs.
type logMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(t *tailer.Stats) float64
}

// agentMetric is one series read from a snapshot.
type agentMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(s *Stats, now time.Time) float64
}

// metricAdders return functions that append a counter and a gauge, each
// read from a snapshot, to dst.
func metricAdders(dst *[]agentMetric) (counter func(name, help string, v func(s *Stats) uint64), gauge func(name, help string, v func(s *Stats, now time.Time) float64)) {
	add := func(name, help string, kind prometheus.ValueType, v func(s *Stats, now time.Time) float64) {
		*dst = append(*dst, agentMetric{desc: prometheus.NewDesc(name, help, nil, nil), kind: kind, value: v})
	}
	counter = func(name, help string, v func(s *Stats) uint64) {
		add(name, help, prometheus.CounterValue, func(s *Stats, _ time.Time) float64 { return float64(v(s)) })
	}
	gauge = func(name, help string, v func(s *Stats, now time.Time) float64) {
		add(name, help, prometheus.GaugeValue, v)
	}
	return counter, gauge
}

func newAgentCollector(snapshot func() Stats, version string) *agentCollector {
	c := &agentCollector{
		snapshot: snapshot,
		now:      time.Now,
		version:  version,
		webhook:  newWebhookDescs(),
		perLog:   newLogMetrics(),
		build: prometheus.NewDesc("audittail_build_info",
			"Always 1; the labels give the audittail version and the Go version it was built with.",
			[]string{"version", "goversion"}, nil),
		policyEvents: prometheus.NewDesc("audittail_policy_events_total",
			"Events by the policy rule that matched them (rule: rules[N] (Level), or \"no rule\") and what became of them: "+
				"dropped (level None or an omitted stage), reduced (shipped at a lower level than recorded), kept, "+
				"wanted_more (the rule wants a higher level than recorded: shipped as recorded).",
			[]string{"rule", "action"}, nil),
		policySaved: prometheus.NewDesc("audittail_policy_saved_bytes_total",
			"Bytes of audit log lines the policy kept from being shipped (dropped lines, and the ranges cut from reduced ones), by rule.",
			[]string{"rule"}, nil),
		redactions: prometheus.NewDesc("audittail_redactions_total",
			"Values redacted, by what they were: secret_data (a Secret's data or stringData), last_applied "+
				"(a Secret's kubectl.kubernetes.io/last-applied-configuration), token (a TokenRequest's or TokenReview's token).",
			[]string{"field"}, nil),
	}
	counter, gauge := metricAdders(&c.metrics)

	// Pipeline: from the audit log to the shipper.
	counter("audittail_events_read_total", "Lines read from the audit log, blank ones included.",
		func(s *Stats) uint64 { return s.Pipeline.Read })
	counter("audittail_events_dropped_total", "Events the policy dropped (policy.file): nothing shipped, the checkpoint moves past them.",
		func(s *Stats) uint64 { return s.Pipeline.Dropped })
	counter("audittail_events_sent_total", "GELF messages handed to the shipper.",
		func(s *Stats) uint64 { return s.Pipeline.Sent })
	counter("audittail_events_confirmed_total", "GELF messages whose receipt the log server confirmed; the checkpoint moves only past these.",
		func(s *Stats) uint64 { return s.Tracker.Confirmed })
	counter("audittail_parse_errors_total", "Lines that were not valid audit events (shipped raw, flagged _parse_error).",
		func(s *Stats) uint64 { return s.Pipeline.ParseErrors })
	counter("audittail_events_truncated_total", "GELF messages cut to gelf.max_message_bytes.",
		func(s *Stats) uint64 { return s.Pipeline.Truncated })
	counter("audittail_long_lines_total", "Lines cut at tail.max_line_bytes (their start shipped, flagged _line_truncated_bool).",
		func(s *Stats) uint64 { return s.Pipeline.LongLines })
	counter("audittail_partial_lines_total", "Unterminated last lines of rotated audit log files (shipped, flagged _partial_bool).",
		func(s *Stats) uint64 { return s.Pipeline.Partial })
	counter("audittail_blank_lines_total", "Empty lines skipped, having nothing to ship.",
		func(s *Stats) uint64 { return s.Pipeline.SkippedBlank })
	counter("audittail_sent_bytes_total", "Bytes of GELF messages handed to the shipper, delimiters excluded.",
		func(s *Stats) uint64 { return s.Pipeline.Bytes })
	gauge("audittail_last_confirmed_timestamp_seconds", "Unix time of the last confirmation from the log server; 0 if none yet.",
		func(s *Stats, _ time.Time) float64 { return unixSeconds(s.Tracker.LastConfirmed) })

	// Shipper: the connection and its replay window.
	counter("audittail_events_replayed_total", "GELF messages written again, their receipt unconfirmed: after a reconnect, or a request the server refused.",
		func(s *Stats) uint64 { return s.Shipper.Resent })
	counter("audittail_written_bytes_total", "Raw bytes written to log server connections, TLS overhead and replayed frames included.",
		func(s *Stats) uint64 { return s.Shipper.BytesWritten })
	counter("audittail_reconnects_total", "Connections to the log server established after the first one.",
		func(s *Stats) uint64 { return s.Shipper.Reconnects })
	gauge("audittail_output_connected", "1 while a connection to the log server is up, else 0.",
		func(s *Stats, _ time.Time) float64 { return bit(s.Shipper.Connected) })
	gauge("audittail_unconfirmed_events", "GELF messages sent and not yet confirmed by the log server (the replay window).",
		func(s *Stats, _ time.Time) float64 { return float64(s.Shipper.Unconfirmed) })
	gauge("audittail_unconfirmed_bytes", "Bytes in the replay window, delimiters included.",
		func(s *Stats, _ time.Time) float64 { return float64(s.Shipper.UnconfirmedBytes) })
	gauge("audittail_oldest_unconfirmed_age_seconds", "Seconds since the oldest unconfirmed GELF message was sent; 0 when none is unconfirmed.",
		func(s *Stats, now time.Time) float64 {
			if s.Shipper.OldestUnconfirmed.IsZero() {
				return 0
			}
			return max(now.Sub(s.Shipper.OldestUnconfirmed).Seconds(), 0)
		})

	// Tailer: the audit log files.
	gauge("audittail_lag_bytes", "Bytes of the current audit log file not read yet (with the webhook receiver, added to those of its spool's current file).",
		func(s *Stats, _ time.Time) float64 { return float64(s.Tailer.LagBytes) })
	gauge("audittail_files_open", "Audit log files held open: at most one per input (the audit log, the webhook spool).",
		func(s *Stats, _ time.Time) float64 { return float64(s.Tailer.FilesOpen) })
	counter("audittail_rotations_total", "Switches from one generation of the audit log to the next.",
		func(s *Stats) uint64 { return s.Tailer.Rotations })
	counter("audittail_truncations_total", "Audit log files found shorter than what was read (copytruncate).",
		func(s *Stats) uint64 { return s.Tailer.Truncations })
	counter("audittail_lost_files_total", "Rotated audit log files deleted before they were read to their end.",
		func(s *Stats) uint64 { return s.Tailer.LostFiles })
	counter("audittail_lost_bytes_total", "Unread bytes of the lost audit log files (a lower bound when only an older size was known).",
		func(s *Stats) uint64 { return s.Tailer.LostBytes })
	counter("audittail_container_restarts_total", "Container logs of a later instance of the container followed (tail.format cri or docker-json: <n+1>.log).",
		func(s *Stats) uint64 { return s.Tailer.Restarts })
	counter("audittail_pods_followed_total", "Pod log directories followed after the first (tail.path a pattern: a static pod replaced by a new UID).",
		func(s *Stats) uint64 { return s.Tailer.Pods })
	counter("audittail_inotify_overflows_total", "inotify queue overflows, each followed by a rescan.",
		func(s *Stats) uint64 { return s.Tailer.InotifyOverflows })
	gauge("audittail_polling", "1 when inotify is unusable and only the poll timer wakes the tailer, else 0.",
		func(s *Stats, _ time.Time) float64 { return bit(s.Tailer.Polling) })

	// Checkpoint.
	counter("audittail_checkpoint_writes_total", "Checkpoint file writes that succeeded.",
		func(s *Stats) uint64 { return s.Checkpoint.Writes })
	counter("audittail_checkpoint_errors_total", "Checkpoint file writes that failed (retried at the next flush).",
		func(s *Stats) uint64 { return s.Checkpoint.Errors })
	return c
}

// Describe implements prometheus.Collector.
func (c *agentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
	ch <- c.build
	ch <- c.policyEvents
	ch <- c.policySaved
	ch <- c.redactions
	c.webhook.describe(ch)
	for _, m := range c.perLog {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector: one snapshot per scrape.
func (c *agentCollector) Collect(ch chan<- prometheus.Metric) {
	s, now := c.snapshot(), c.now()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(&s, now))
	}
	ch <- prometheus.MustNewConstMetric(c.build, prometheus.GaugeValue, 1, c.version, runtime.Version())
	for _, r := range s.Process.Rules {
		for _, a := range []struct {
			action string
			n      uint64
		}{{"dropped", r.Dropped}, {"reduced", r.Reduced}, {"kept", r.Kept}, {"wanted_more", r.WantedMore}} {
			ch <- prometheus.MustNewConstMetric(c.policyEvents, prometheus.CounterValue, float64(a.n), r.Rule, a.action)
		}
		ch <- prometheus.MustNewConstMetric(c.policySaved, prometheus.CounterValue, float64(r.SavedBytes), r.Rule)
	}
	for field, n := range s.Process.Redacted {
		ch <- prometheus.MustNewConstMetric(c.redactions, prometheus.CounterValue, float64(n), field)
	}
	c.webhook.collect(ch, &s, now)
	if len(s.Logs) > 1 { // with one log, the unlabelled series say it all
		for _, l := range s.Logs {
			for _, m := range c.perLog {
				ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(&l.Tailer), l.Log)
			}
		}
	}
}

// newLogMetrics are the series labelled by log (its path, or "webhook"),
// served when the agent has more than one input: which log lags or lost
// files, where the unlabelled series add them up.
func newLogMetrics() []logMetric {
	label := []string{"log"}
	return []logMetric{
		{prometheus.NewDesc("audittail_log_lag_bytes", "Bytes of the log's current file not read yet, by log.", label, nil),
			prometheus.GaugeValue, func(t *tailer.Stats) float64 { return float64(t.LagBytes) }},
		{prometheus.NewDesc("audittail_log_rotations_total", "Switches from one generation of the log to the next, by log.", label, nil),
			prometheus.CounterValue, func(t *tailer.Stats) float64 { return float64(t.Rotations) }},
		{prometheus.NewDesc("audittail_log_lost_files_total", "Rotated files of the log deleted before they were read to their end, by log.", label, nil),
			prometheus.CounterValue, func(t *tailer.Stats) float64 { return float64(t.LostFiles) }},
		{prometheus.NewDesc("audittail_log_lost_bytes_total", "Unread bytes of the log's lost files, by log.", label, nil),
			prometheus.CounterValue, func(t *tailer.Stats) float64 { return float64(t.LostBytes) }},
	}
}

func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}
