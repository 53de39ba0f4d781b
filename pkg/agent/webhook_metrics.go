package agent

import (
	"time"

	"github.com/audittail/audittail/pkg/spool"
	"github.com/prometheus/client_golang/prometheus"
)

// webhookDescs are the receiver's and the spool's series, collected only
// when the receiver is on.
type webhookDescs struct {
	metrics []agentMetric
	refused *prometheus.Desc
}

func newWebhookDescs() webhookDescs {
	var d webhookDescs
	counter, gauge := metricAdders(&d.metrics)
	counter("audittail_webhook_batches_total", "EventList batches the webhook receiver accepted (answered 200 once spooled and synced).",
		func(s *Stats) uint64 { return s.Webhook.Batches })
	counter("audittail_webhook_events_total", "Audit events the webhook receiver accepted.",
		func(s *Stats) uint64 { return s.Webhook.Events })
	counter("audittail_webhook_received_bytes_total", "Bytes of JSON lines the webhook receiver wrote to the spool.",
		func(s *Stats) uint64 { return s.Webhook.Bytes })
	counter("audittail_webhook_tls_handshake_errors_total", "TLS handshakes with the webhook receiver that failed (scanners, clients that do not trust its certificate).",
		func(s *Stats) uint64 { return s.Webhook.HandshakeErrors })
	gauge("audittail_webhook_last_accepted_timestamp_seconds", "Unix time of the last batch accepted; 0 if none yet.",
		func(s *Stats, _ time.Time) float64 { return unixSeconds(s.Webhook.LastAccepted) })
	gauge("audittail_spool_bytes", "Bytes in the webhook spool's files (received, not yet removed).",
		func(s *Stats, _ time.Time) float64 { return float64(s.Spool.Bytes) })
	gauge("audittail_spool_files", "Files in the webhook spool.",
		func(s *Stats, _ time.Time) float64 { return float64(s.Spool.Files) })
	gauge("audittail_spool_oldest_unshipped_age_seconds", "Age of the oldest spooled event whose receipt the log server has not confirmed; 0 when none.",
		func(s *Stats, now time.Time) float64 {
			if s.Spool.OldestUnshipped.IsZero() {
				return 0
			}
			return max(now.Sub(s.Spool.OldestUnshipped).Seconds(), 0)
		})
	gauge("audittail_spool_broken", "1 when a failed spool write could not be undone: the receiver refuses every batch until restarted.",
		func(s *Stats, _ time.Time) float64 { return bit(s.Spool.Broken) })
	counter("audittail_spool_rotations_total", "Spool files rotated.",
		func(s *Stats) uint64 { return s.Spool.Rotations })
	counter("audittail_spool_removed_files_total", "Spool files removed once the checkpoint durably left them behind.",
		func(s *Stats) uint64 { return s.Spool.RemovedFiles })
	counter("audittail_spool_errors_total", "Spool writes that failed (the batch was refused with 503).",
		func(s *Stats) uint64 { return s.Spool.Errors })
	d.refused = prometheus.NewDesc("audittail_webhook_refused_total",
		"Requests the webhook receiver refused, by reason: no_client_cert and no_token (401), bad_client_cert and bad_token (403), "+
			"method (405), content_type (415), too_large (413), bad_body and read_error (400), spool_full (429), spool_error (503).",
		[]string{"reason"}, nil)
	return d
}

func (d webhookDescs) describe(ch chan<- *prometheus.Desc) {
	for _, m := range d.metrics {
		ch <- m.desc
	}
	ch <- d.refused
}

func (d webhookDescs) collect(ch chan<- prometheus.Metric, s *Stats, now time.Time) {
	if s.Webhook == nil || s.Spool == nil {
		return
	}
	for _, m := range d.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(s, now))
	}
	for reason, n := range s.Webhook.Refused {
		ch <- prometheus.MustNewConstMetric(d.refused, prometheus.CounterValue, float64(n), reason)
	}
}

// webhookReadiness reports whether the receiver accepts batches, and when
// not, why in one line.
func webhookReadiness(s spool.Stats) (ready bool, reason string) {
	switch {
	case s.Broken:
		return false, "spool broken: a failed write could not be undone; restart the agent"
	case s.Full:
		return false, "spool full: the log server has not confirmed events for a long time; batches are refused with 429"
	}
	return true, ""
}
