package k8swebhook

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/plugin/pkg/audit/buffered"

	"github.com/audittail/audittail/internal/agenttest"
	"github.com/audittail/audittail/internal/auditgen"
	"github.com/audittail/audittail/internal/gelftest"
)

// batchConfig is kube-apiserver's batch mode (--audit-webhook-mode=batch:
// --audit-webhook-batch-buffer-size, -batch-max-size 400, the default, and
// -batch-max-wait), without throttling and with a short wait so that the
// waves of the test are cut into batches of every size.
var batchConfig = buffered.BatchConfig{
	BufferSize:     20000,
	MaxBatchSize:   400,
	MaxBatchWait:   50 * time.Millisecond,
	ThrottleEnable: false,
	AsyncDelegate:  true,
}

// generousRetry is the webhook client's back-off in the test: kube-apiserver's
// shape (factor 1.5, jitter 0.2, as DefaultRetryBackoffWithInitialDelay in
// k8s.io/apiserver pkg/util/webhook) with a shorter first step
// (--audit-webhook-initial-backoff is 10s by default) and more steps:
// 12 attempts over about 34 s, so that a batch outlives any restart of the
// agent in the test. A batch the client gives up on is not the agent's
// loss; the test fails if one is given up, as the test itself would then
// be wrong.
var generousRetry = wait.Backoff{Duration: 200 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 12}

// agentConfig is the agent's configuration file in the tests, beside the
// flags:
//   - spool files of 1 MiB, the minimum, instead of 64 MiB, so that the
//     spool rotates (and prunes what the checkpoint left behind) dozens of
//     times under the kills;
//   - the checkpoint written every 100 ms instead of every second, which
//     narrows the duplicates a SIGKILL may cause (see dupWindow) and so
//     makes the bound on them tighter.
const (
	agentConfig = "checkpoint:\n  flush_interval: 100ms\nspool:\n  file_bytes: 1048576\n"
	flushEvery  = 100 * time.Millisecond
)

// setup is what both tests run: a PKI, a token, a GELF server and the
// agent receiving the webhook.
type setup struct {
	dir         string
	pki         *pki
	token       string
	srv         *gelftest.Server
	agent       *agentProc
	hookAddr    string
	metricsAddr string
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	klogs.reset()
	s := &setup{dir: t.TempDir()}
	s.pki = newPKI(t, s.dir)
	var tokenFile string
	s.token, tokenFile = writeToken(t, s.dir, "webhook-token")
	cfgFile := filepath.Join(s.dir, "audittail.yaml")
	if err := os.WriteFile(cfgFile, []byte(agentConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	s.srv = gelftest.NewServer(t, gelftest.Options{})
	s.hookAddr, s.metricsAddr = freeAddr(t), freeAddr(t)
	s.agent = newAgent(t, s.metricsAddr,
		"--config", cfgFile,
		"--webhook-listen", s.hookAddr,
		"--webhook-cert", s.pki.serverCert,
		"--webhook-key", s.pki.serverKey,
		"--webhook-client-ca", s.pki.caFile,
		"--webhook-token-file", tokenFile,
		"--spool-dir", filepath.Join(s.dir, "spool"),
		"--endpoint", s.srv.Endpoint(),
		"--checkpoint", filepath.Join(s.dir, "ckpt.json"),
		"--log-level", "info",
		"--metrics-addr", s.metricsAddr,
	)
	return s
}

// kubeconfig writes a webhook kubeconfig for the agent with the user c.
func (s *setup) kubeconfig(t *testing.T, name string, c creds) string {
	return writeKubeconfig(t, filepath.Join(s.dir, name), "https://"+s.hookAddr, s.pki.caFile, c)
}

// fullCreds are what kube-apiserver's kubeconfig holds: the client
// certificate and the token, both of which the agent requires.
func (s *setup) fullCreds() creds {
	return creds{cert: s.pki.clientCert, key: s.pki.clientKey, token: s.token}
}

// metric returns one sample of the agent's /metrics, 0 when absent.
func (s *setup) metric(t *testing.T, name string) float64 {
	t.Helper()
	m, err := scrape(s.metricsAddr)
	if err != nil {
		t.Fatalf("scrape /metrics: %v", err)
	}
	return m[name]
}

// Incidents of the chaos schedule.
const (
	killAgent = iota
	startAgent
	stopGELF
	startGELF
)

type action struct{ wave, what int }

// incident is a kill or a GELF outage, for the duplicate bound.
type incident struct {
	kill     bool
	at       time.Time
	inflight int // client batches in flight at a kill
}

// countSample is the number of GELF messages received at a time.
type countSample struct {
	at time.Time
	n  int
}

// The duplicates an incident may cause are events the GELF server
// received, for the first time, between dupWindow before it and dupAfter
// after it (see the bound in the test).
const (
	dupWindow = 2*flushEvery + 800*time.Millisecond
	dupAfter  = 500 * time.Millisecond
)

func TestRealWebhookClientSurvivesKillsAndServerOutages(t *testing.T) {
	began := time.Now()
	const (
		nEvents = 20480
		nWaves  = 64
		tick    = 200 * time.Millisecond
		seed    = 20261121
	)
	s := newSetup(t)
	evs, ids := generate(t, seed, 0, nEvents)
	s.agent.start()
	c := newClient(t, s.kubeconfig(t, "kubeconfig", s.fullCreds()), generousRetry, batchConfig)

	// The waves: nEvents cut at random places into nWaves, from a few
	// events to a thousand or more.
	r := rand.New(rand.NewPCG(seed, 1))
	cuts := []int{0, nEvents}
	for len(cuts) < nWaves+1 {
		if x := 1 + r.IntN(nEvents-1); !slices.Contains(cuts, x) {
			cuts = append(cuts, x)
		}
	}
	slices.Sort(cuts)

	// The chaos, in waves (one every tick): two outages of the GELF server
	// (Stop, then Restart on the same port) and four SIGKILLs of the
	// agent, each followed 0 to 2 waves later by a restart on the same
	// port, spool and checkpoint: one with the GELF server up, one during
	// the first outage (the spool holds what the server has not got), one
	// during the catch-up after it, and one near the end.
	k1 := 5 + r.IntN(4)          // GELF server up
	s1 := 14 + r.IntN(3)         // first outage: 12 to 15 waves (2.4-3 s)
	s1end := s1 + 12 + r.IntN(4) //
	k2 := s1 + 4 + r.IntN(5)     // during the first outage
	s2 := 42 + r.IntN(3)         // second outage: 10 to 12 waves
	s2end := s2 + 10 + r.IntN(3) //
	k4 := 57 + r.IntN(4)         // GELF server up, near the end
	acts := []action{{s1, stopGELF}, {s1end, startGELF}, {s2, stopGELF}, {s2end, startGELF}}
	for _, k := range []int{k1, k2, k4} {
		acts = append(acts, action{k, killAgent}, action{k + r.IntN(3), startAgent})
	}
	// The third kill comes during the catch-up after the first outage:
	// once the agent has reconnected and shipped catchUp messages of its
	// backlog (the shipper's reconnect back-off decides when), or at wave
	// k3Latest. Its restart follows 0 to 2 waves later.
	const catchUp = 300
	k3, k3Latest, k3Restart := -1, s2-3, r.IntN(3)
	// By wave; in a wave, the server comes back before a kill, and a
	// restart follows its kill.
	slices.SortStableFunc(acts, func(a, b action) int {
		if a.wave != b.wave {
			return a.wave - b.wave
		}
		order := [...]int{startGELF: 0, stopGELF: 1, killAgent: 2, startAgent: 3}
		return order[a.what] - order[b.what]
	})
	t.Logf("schedule: %d events in %d waves, one every %v; kills at waves %d, %d, during the catch-up after wave %d, and %d; GELF server down for waves %d-%d and %d-%d",
		nEvents, nWaves, tick, k1, k2, s1end, k4, s1, s1end, s2, s2end)

	// The number of messages the GELF server holds, every 10 ms.
	var (
		samplesMu sync.Mutex
		samples   []countSample
	)
	sampleStop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			n := s.srv.Count()
			samplesMu.Lock()
			samples = append(samples, countSample{time.Now(), n})
			samplesMu.Unlock()
			select {
			case <-sampleStop:
				return
			case <-tk.C:
			}
		}
	}()
	stopSampling := sync.OnceFunc(func() { close(sampleStop); <-sampled })
	t.Cleanup(stopSampling)

	var (
		incidents           []incident
		gelfBack            []time.Time // when the GELF server came back
		catchUpFrom         int         // messages at the GELF server when it came back the first time
		kills, gelfRestarts int
		acceptedBatches     float64 // audittail_webhook_batches_total of the runs, scraped before each kill (a lower bound)
		outageDelivered     int     // client batches delivered at the start of the current outage
	)
	scrapeBatches := func() {
		if m, err := scrape(s.metricsAddr); err == nil {
			acceptedBatches += m["audittail_webhook_batches_total"]
		}
	}
	kill := func() {
		scrapeBatches()
		inflight, _, _, _ := c.counting.counts()
		s.agent.kill()
		kills++
		incidents = append(incidents, incident{kill: true, at: time.Now(), inflight: inflight})
	}
	next := time.Now()
	for w := range nWaves {
		s.agent.running()
		if !c.batched.ProcessEvents(evs[cuts[w]:cuts[w+1]]...) {
			t.Fatalf("wave %d: the buffered backend refused the events", w)
		}
		for _, a := range acts {
			if a.wave != w {
				continue
			}
			switch a.what {
			case killAgent:
				kill()
			case startAgent:
				s.agent.start()
			case stopGELF:
				s.srv.Stop()
				incidents = append(incidents, incident{at: time.Now()})
				_, outageDelivered, _, _ = c.counting.counts()
			case startGELF:
				// The receiver took batches while the GELF server was
				// down: its spool holds them.
				deadline := time.Now().Add(30 * time.Second)
				for {
					if _, d, _, _ := c.counting.counts(); d > outageDelivered {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("wave %d: no batch accepted in 30 s while the GELF server was down", w)
					}
					time.Sleep(10 * time.Millisecond)
				}
				s.srv.Restart(t)
				gelfBack = append(gelfBack, time.Now())
				if gelfRestarts++; gelfRestarts == 1 {
					catchUpFrom = s.srv.Count()
				}
			}
		}
		// Until the next wave, watch for the catch-up.
		next = next.Add(tick)
		for {
			if k3 < 0 && gelfRestarts == 1 && (s.srv.Count() >= catchUpFrom+catchUp || w >= k3Latest) {
				k3 = w
				t.Logf("wave %d: kill during the catch-up, %d messages after the GELF server came back", w, s.srv.Count()-catchUpFrom)
				kill()
				if k3Restart == 0 {
					s.agent.start()
				} else {
					acts = append(acts, action{w + k3Restart, startAgent})
				}
			}
			if !time.Now().Before(next) {
				break
			}
			time.Sleep(min(5*time.Millisecond, time.Until(next)))
		}
	}
	sent := time.Since(began)

	// kube-apiserver's shutdown: the buffered backend sends what it holds
	// and waits for every batch to be delivered or given up.
	c.shutdown()
	_, delivered, dropped, lost := c.counting.counts()
	pluginErrors, klogText := klogs.snapshot()
	if dropped > 0 || pluginErrors > 0 {
		t.Errorf("the webhook client gave up %d batches (%d events; klog reported %d): not the agent's loss, but the test's retry back-off is too short for it to mean anything:\n%s",
			dropped, len(lost), pluginErrors, agenttest.Tail(klogText, 4000))
	}

	// Every auditID at the GELF server.
	lostSet := map[string]bool{}
	for _, id := range lost {
		lostSet[id] = true
	}
	want := map[string]bool{}
	for _, id := range ids {
		if !lostSet[id] {
			want[id] = true
		}
	}
	seen := map[string]int{}
	var msgs [][]byte
	deadline := time.Now().Add(3 * time.Minute)
	for {
		s.agent.running()
		if s.srv.Count() >= len(want) {
			msgs = s.srv.Messages()
			clear(seen)
			for _, m := range msgs {
				seen[auditIDOf(m)]++
			}
			got := 0
			for id := range want {
				if seen[id] > 0 {
					got++
				}
			}
			if got == len(want) {
				break
			}
		}
		if time.Now().After(deadline) {
			var missing []int
			for i, id := range ids {
				if want[id] && seen[id] == 0 {
					missing = append(missing, i)
				}
			}
			m, _ := scrape(s.metricsAddr)
			t.Fatalf("after 3 minutes, %d of %d events never reached the GELF server (%d messages received); first missing seqs: %v\nagent webhook/spool metrics: %s",
				len(missing), len(want), s.srv.Count(), missing[:min(len(missing), 20)], webhookMetrics(m))
		}
		time.Sleep(200 * time.Millisecond)
	}
	stopSampling()
	shipped := time.Since(began)

	// Duplicates: messages whose auditID came before, and messages that are
	// none of the events sent.
	firstAt := map[string]int{}           // index in msgs of each auditID's first copy
	newBefore := make([]int, len(msgs)+1) // first copies among msgs[:i]
	dups, foreign := 0, 0
	type dup struct{ i, first int } // indexes in msgs of a duplicate and of its first copy
	var dupAt []dup
	for i, m := range msgs {
		id := auditIDOf(m)
		newBefore[i+1] = newBefore[i]
		if !want[id] && !lostSet[id] {
			foreign++
		} else if f, ok := firstAt[id]; ok {
			dups++
			dupAt = append(dupAt, dup{i, f})
		} else {
			firstAt[id] = i
			newBefore[i+1]++
		}
	}
	if foreign > 0 {
		t.Errorf("%d GELF messages are none of the events sent", foreign)
	}

	// The bound on duplicates. An incident can make the agent ship again
	// only:
	//   - after a SIGKILL, what follows the spool checkpoint's last written
	//     position: events confirmed by the server since that write (the
	//     checkpoint is written every flushEvery, and the previous
	//     generation is read if the kill tore the current one: two
	//     intervals, plus the write itself), events sent but not yet
	//     confirmed (the replay window: confirmed 25 ms after the kernel
	//     saw them acknowledged) and what was still in the socket
	//     buffers when the process died, which the server reads just
	//     after. All of these reached the server for the first time within
	//     dupWindow before the kill or dupAfter after it;
	//   - after a SIGKILL too, the client's batches whose 200 was lost:
	//     spooled, then sent again by the client. Only a batch in flight
	//     at the kill can be, so at most inflight × MaxBatchSize events,
	//     whenever their first copy arrived;
	//   - after the GELF server's Stop, the replay window the agent sends
	//     again on its next connection (or, if it is killed before it
	//     reconnects, from the checkpoint at its next start): events that
	//     reached the server just before the server closed the connection,
	//     well within dupWindow.
	// So every duplicate's first copy arrived within [at-dupWindow,
	// at+dupAfter] of an incident (the message counts at those times are
	// read from the samples around, which widens the window), except for
	// at most Σ over kills of inflight × MaxBatchSize; and the number of
	// duplicates is at most the bound: Σ over incidents of the events
	// first received in their window, plus that allowance. An agent that
	// re-read its spool from further back (a checkpoint that does not
	// move, a restart from the start of the spool or of a file, a replay
	// of a rotated file) fails the first check however few events it
	// repeats, and the second if it repeats many.
	samplesMu.Lock()
	smp := slices.Clone(samples)
	samplesMu.Unlock()
	countBefore := func(at time.Time) int { // messages received by at, or fewer
		n := 0
		for _, x := range smp {
			if x.at.After(at) {
				break
			}
			n = x.n
		}
		return n
	}
	countAfter := func(at time.Time) int { // messages received by at, or more
		for _, x := range smp {
			if !x.at.Before(at) {
				return min(x.n, len(msgs))
			}
		}
		return len(msgs)
	}
	arrival := func(i int) time.Time { // message i arrived by then
		for _, x := range smp {
			if x.n > i {
				return x.at
			}
		}
		return time.Now()
	}
	type window struct{ lo, hi int } // indexes in msgs
	windows := make([]window, len(incidents))
	for k, in := range incidents {
		windows[k] = window{countBefore(in.at.Add(-dupWindow)), countAfter(in.at.Add(dupAfter))}
	}
	explained := make([]int, len(incidents))
	reach := make([]time.Duration, len(incidents)) // how long before the incident the oldest first copy arrived
	unexplained, allowance := 0, 0
	var strays []string
	for _, d := range dupAt {
		if at := arrival(d.i); incidents[0].at.After(at) {
			t.Errorf("duplicate %s (message %d) arrived at +%.2fs, before any kill or outage", auditIDOf(msgs[d.i]), d.i, at.Sub(began).Seconds())
		}
		k := slices.IndexFunc(windows, func(w window) bool { return w.lo <= d.first && d.first < w.hi })
		if k >= 0 {
			explained[k]++
			reach[k] = max(reach[k], incidents[k].at.Sub(arrival(d.first)))
			continue
		}
		unexplained++
		if len(strays) < 10 {
			seq, _ := auditgen.SeqOf(auditIDOf(msgs[d.i]))
			strays = append(strays, fmt.Sprintf("seq %d first at +%.2fs again at +%.2fs", seq,
				arrival(d.first).Sub(began).Seconds(), arrival(d.i).Sub(began).Seconds()))
		}
	}
	bound := 0
	var parts []string
	for k, in := range incidents {
		b := newBefore[windows[k].hi] - newBefore[windows[k].lo]
		what := "GELF outage"
		if in.kill {
			what = "kill"
			allowance += in.inflight * batchConfig.MaxBatchSize
		}
		bound += b
		parts = append(parts, fmt.Sprintf("%s at +%.1fs: %d duplicates of the %d events first received around it, the oldest %dms before (%d batches in flight)",
			what, in.at.Sub(began).Seconds(), explained[k], b, reach[k].Milliseconds(), in.inflight))
	}
	bound += allowance
	var back []string // how long the agent took to ship again after each outage
	for _, at := range gelfBack {
		n := countBefore(at)
		for _, x := range smp {
			if x.at.After(at) && x.n > n {
				back = append(back, x.at.Sub(at).Round(time.Millisecond).String())
				break
			}
		}
	}
	parts = append(parts, fmt.Sprintf("others: %d, allowed %d", unexplained, allowance))
	if unexplained > allowance {
		t.Errorf("%d duplicates of events first received far from any kill or outage, more than the %d the client may have sent again; for example: %s",
			unexplained, allowance, strings.Join(strays, "; "))
	}
	if dups > bound {
		t.Errorf("%d duplicates, more than the bound %d (%s)", dups, bound, strings.Join(parts, "; "))
	}

	// The agent's counters (those of the last run) and its exit.
	scrapeBatches()
	m, _ := scrape(s.metricsAddr)
	if code := s.agent.term(); code != 0 {
		t.Errorf("agent exit status %d after SIGTERM, want 0", code)
	}
	t.Logf("events sent: %d in %d waves over %.1fs; client batches delivered %d, given up %d; agent batches accepted ≥ %.0f (sum of each run's audittail_webhook_batches_total, scraped before its kill or stop)",
		nEvents, nWaves, sent.Seconds(), delivered, dropped, acceptedBatches)
	t.Logf("agent kills (SIGKILL): %d, restarts %d; GELF server outages: %d; all %d events at the GELF server %.1fs after the start",
		kills, len(s.agent.runs)-1, gelfRestarts, len(want), shipped.Seconds())
	t.Logf("GELF messages: %d, duplicates: %d (bound %d: %s); torn frames at the server: %d", len(msgs), dups, bound, strings.Join(parts, "; "), s.srv.Partial())
	t.Logf("first message after each outage: %s after the GELF server came back", strings.Join(back, ", "))
	t.Logf("last run's metrics: %s", webhookMetrics(m))
	t.Logf("test run time: %.1fs", time.Since(began).Seconds())
}

func TestRealWebhookClientRefusedWithoutClientCert(t *testing.T) {
	s := newSetup(t)
	other := gelftest.NewPKI(t) // a CA the agent does not trust, with its client certificate
	s.agent.start()
	const perCase = 50
	quick := wait.Backoff{Duration: 50 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 2}
	cases := []struct {
		name    string
		creds   creds
		reasons []string // the refusal expected, one of
	}{
		{"no client certificate and no token", creds{}, []string{"no_client_cert", "no_token"}},
		{"token without client certificate", creds{token: s.token}, []string{"no_client_cert"}},
		{"client certificate without token", creds{cert: s.pki.clientCert, key: s.pki.clientKey}, []string{"no_token"}},
		{"wrong token", creds{cert: s.pki.clientCert, key: s.pki.clientKey, token: strings.Repeat("0", 48)}, []string{"bad_token"}},
		// Go's TLS client sends no certificate that none of the CAs the
		// server names signed; if the server names none, it sends this one.
		{"client certificate of another CA", creds{cert: other.ClientCertFile, key: other.ClientKeyFile, token: s.token}, []string{"bad_client_cert", "no_client_cert"}},
	}
	evs, ids := generate(t, 7, 0, (len(cases)+1)*perCase)
	droppedBatches := 0
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, err := scrape(s.metricsAddr)
			if err != nil {
				t.Fatal(err)
			}
			c := newClient(t, s.kubeconfig(t, fmt.Sprintf("kubeconfig-%d", i), tc.creds), quick, batchConfig)
			c.batched.ProcessEvents(evs[i*perCase : (i+1)*perCase]...)
			c.shutdown()
			_, delivered, dropped, lost := c.counting.counts()
			droppedBatches += dropped
			if delivered != 0 || len(lost) != perCase {
				t.Errorf("client delivered %d batches and gave up %d (%d of %d events): want every batch refused", delivered, dropped, len(lost), perCase)
			}
			after, err := scrape(s.metricsAddr)
			if err != nil {
				t.Fatal(err)
			}
			refused := map[string]float64{}
			for k, v := range after {
				if reason, ok := strings.CutPrefix(k, `audittail_webhook_refused_total{reason="`); ok {
					refused[strings.TrimSuffix(reason, `"}`)] = v - before[k]
				}
			}
			var n float64
			for _, reason := range tc.reasons {
				n += refused[reason]
			}
			// Each batch is tried Steps times.
			if want := float64(dropped * quick.Steps); n < want {
				t.Errorf("refusals counted by reason %v: %v (all reasons: %v), want %v", tc.reasons, n, refused, want)
			}
			t.Logf("refused: %v", refused)
			if b := after["audittail_webhook_batches_total"]; b != 0 {
				t.Errorf("audittail_webhook_batches_total %v, want 0", b)
			}
		})
	}
	if n, _ := klogs.snapshot(); n != droppedBatches {
		t.Errorf("klog reported %d batches given up, the client %d", n, droppedBatches)
	}

	// The same client with kube-apiserver's full kubeconfig gets through:
	// the refusals above were for the credentials only. Spooled after
	// anything refused above would have been, its events reach the GELF
	// server after it too: nothing else may be there.
	c := newClient(t, s.kubeconfig(t, "kubeconfig-full", s.fullCreds()), generousRetry, batchConfig)
	c.batched.ProcessEvents(evs[len(cases)*perCase:]...)
	c.shutdown()
	if _, delivered, dropped, _ := c.counting.counts(); delivered == 0 || dropped != 0 {
		t.Fatalf("with the full kubeconfig: %d batches delivered, %d given up", delivered, dropped)
	}
	control := ids[len(cases)*perCase:]
	s.srv.WaitFor(t, 30*time.Second, fmt.Sprintf("the %d events sent with the full kubeconfig", len(control)), func(frames [][]byte) bool {
		got := map[string]bool{}
		for _, f := range frames {
			got[auditIDOf(f)] = true
		}
		for _, id := range control {
			if !got[id] {
				return false
			}
		}
		return true
	})
	msgs := s.srv.Messages()
	refusedIDs := map[string]bool{}
	for _, id := range ids[:len(cases)*perCase] {
		refusedIDs[id] = true
	}
	for _, m := range msgs {
		if refusedIDs[auditIDOf(m)] {
			t.Errorf("a refused event reached the GELF server: %.200s", m)
		}
	}
	if len(msgs) != len(control) {
		t.Errorf("the GELF server received %d messages, want the %d sent with the full kubeconfig", len(msgs), len(control))
	}
	if n := s.metric(t, "audittail_webhook_events_total"); n != float64(len(control)) {
		t.Errorf("audittail_webhook_events_total %v, want %d: only the full kubeconfig's events are spooled", n, len(control))
	}
	if code := s.agent.term(); code != 0 {
		t.Errorf("agent exit status %d after SIGTERM, want 0", code)
	}
}

// webhookMetrics formats the receiver's and the spool's series of m.
func webhookMetrics(m map[string]float64) string {
	var out []string
	for k, v := range m {
		if strings.HasPrefix(k, "audittail_webhook_") || strings.HasPrefix(k, "audittail_spool_") ||
			strings.HasPrefix(k, "audittail_events_") || strings.HasPrefix(k, "audittail_messages_") {
			out = append(out, fmt.Sprintf("%s=%g", k, v))
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}
