package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/internal/gelftest"
	"github.com/audittail/audittail/pkg/config"
	"github.com/rs/zerolog"
)

// sampleLines are the recorded events of examples/sample-audit.log.
func sampleLines(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "sample-audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testConfig is the default configuration for the log at path, shipped to
// endpoint, with its checkpoint and metrics listener of its own.
func testConfig(t *testing.T, path, endpoint string) config.Config {
	t.Helper()
	var cfg config.Config
	cfg.Tail.Path = path
	cfg.Checkpoint.Path = filepath.Join(t.TempDir(), "checkpoint.json")
	cfg.Output.Endpoint = endpoint
	cfg.Metrics.Addr = "127.0.0.1:0"
	cfg.GELF.Host = "test-node"
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// logBuffer collects the agent's JSON log lines; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range bytes.Split([]byte(b.String()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestRunShipsAndStops runs the agent in process: New, Run until every
// event arrived, more lines appended while it runs, then the context ends.
// Run must return nil well within the shutdown budget, with the checkpoint
// at the end of the file (everything confirmed), the metrics listener
// closed, and no goroutine left (TestMain).
func TestRunShipsAndStops(t *testing.T) {
	srv := gelftest.NewServer(t, gelftest.Options{})
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	sample := sampleLines(t)
	if err := os.WriteFile(path, sample, 0o600); err != nil {
		t.Fatal(err)
	}
	n := bytes.Count(sample, []byte("\n"))
	cfg := testConfig(t, path, srv.Endpoint())

	var logs logBuffer
	a, err := New(t.Context(), cfg, Options{Version: testVersion, Log: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := a.MetricsAddr()
	if metricsAddr == "" || strings.HasSuffix(metricsAddr, ":0") {
		t.Fatalf("metrics address %q: want the bound port", metricsAddr)
	}

	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	frames := srv.WaitForCount(t, n, 10*time.Second)
	if !bytes.Contains(frames[0], []byte(`"host":"test-node"`)) {
		t.Errorf("first message %.200s: want host test-node", frames[0])
	}
	// Lines appended while it runs arrive too.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	first := sample[:bytes.IndexByte(sample, '\n')+1]
	for range 3 {
		if _, err := f.Write(first); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	srv.WaitForCount(t, n+3, 10*time.Second)
	size := int64(len(sample) + 3*len(first))
	deadline := time.Now().Add(10 * time.Second)
	for a.Stats().Tracker.Confirmed < uint64(n+3) {
		if time.Now().After(deadline) {
			t.Fatalf("confirmed %d of %d events", a.Stats().Tracker.Confirmed, n+3)
		}
		time.Sleep(10 * time.Millisecond)
	}

	stop()
	start := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(ShutdownBudget + 3*time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %v to stop with everything confirmed", d)
	}

	saved, err := checkpoint.Read(cfg.Checkpoint.Path)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Position.Path != path || saved.Position.Offset != size {
		t.Errorf("checkpoint at %s:%d, want %s:%d", saved.Position.Path, saved.Position.Offset, path, size)
	}
	if c, err := net.DialTimeout("tcp", metricsAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("metrics listener %s still accepts after Run returned", metricsAddr)
	}
	if got := srv.Count(); got != n+3 {
		t.Errorf("server received %d messages, want %d (nothing sent twice in a clean run)", got, n+3)
	}

	stopped := logs.lines(t, "audittail stopped")
	if len(stopped) != 1 {
		t.Fatalf("%d \"audittail stopped\" lines, want 1; log:\n%s", len(stopped), logs.String())
	}
	for key, want := range map[string]float64{
		"events_read": float64(n + 3), "events_sent": float64(n + 3), "events_confirmed": float64(n + 3),
		"sent_bytes": float64(a.Stats().Pipeline.Bytes),
	} {
		if got, _ := stopped[0][key].(float64); got != want {
			t.Errorf("stats line %s = %v, want %v", key, stopped[0][key], want)
		}
	}
	if got := stopped[0]["output_connected"]; got != false {
		t.Errorf("stats line output_connected = %v, want false (the connection is closed at shutdown)", got)
	}
	if len(logs.lines(t, "audittail starting")) != 1 {
		t.Errorf("no start-up line; log:\n%s", logs.String())
	}
}

// TestRunResumesFromCheckpoint stops an agent and starts another on the
// same checkpoint: the second sends only what was appended in between.
func TestRunResumesFromCheckpoint(t *testing.T) {
	srv := gelftest.NewServer(t, gelftest.Options{})
	path := filepath.Join(t.TempDir(), "audit.log")
	sample := sampleLines(t)
	lines := bytes.SplitAfter(sample, []byte("\n"))
	half := bytes.Join(lines[:50], nil)
	if err := os.WriteFile(path, half, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, path, srv.Endpoint())
	cfg.Metrics.Addr = ""

	// runUntil runs an agent until the server holds total messages and the
	// agent had its sent ones confirmed.
	runUntil := func(total, sent int) {
		t.Helper()
		a, err := New(t.Context(), cfg, Options{Version: testVersion, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		srv.WaitForCount(t, total, 10*time.Second)
		for deadline := time.Now().Add(10 * time.Second); a.Stats().Tracker.Confirmed < uint64(sent); {
			if time.Now().After(deadline) {
				t.Fatal("not confirmed")
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	runUntil(50, 50)

	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Join(lines[50:], nil)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	n := bytes.Count(sample, []byte("\n"))
	runUntil(n, n-50)
	time.Sleep(100 * time.Millisecond)
	if got := srv.Count(); got != n {
		t.Errorf("server received %d messages over two runs, want %d", got, n)
	}
	saved, err := checkpoint.Read(cfg.Checkpoint.Path)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Position.Offset != int64(len(sample)) {
		t.Errorf("checkpoint offset %d, want %d", saved.Position.Offset, len(sample))
	}
}

// TestNewRefusesWhatCannotWork checks that New fails before anything runs,
// with a ConfigError for a setting a part refuses, and leaves nothing open.
func TestNewRefusesWhatCannotWork(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, path, "tls://127.0.0.1:1")
	cfg.Output.CACert = filepath.Join(t.TempDir(), "missing-ca.pem")
	_, err := New(t.Context(), cfg, Options{Log: zerolog.Nop()})
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "missing-ca.pem") {
		t.Fatalf("New with a missing CA file: %v, want a ConfigError naming the file", err)
	}
}
