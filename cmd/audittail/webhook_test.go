package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/gelftest"
)

// webhookBody is an EventList of the events from..from+n-1 (eventLine),
// their kind and apiVersion left out as kube-apiserver's webhook backend
// sends them.
func webhookBody(from, n int) []byte {
	const prefix = `{"kind":"Event","apiVersion":"audit.k8s.io/v1",`
	var sb strings.Builder
	sb.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		line := strings.TrimSuffix(fmt.Sprintf(eventLine, from+i), "\n")
		sb.WriteString("{" + line[len(prefix):])
	}
	sb.WriteString("]}")
	return []byte(sb.String())
}

// One agent takes the audit log file and the webhook at once: both reach
// the server over one connection, each input keeps its own checkpoint,
// and the metrics show the receiver and its spool.
func TestFileAndWebhookTogether(t *testing.T) {
	dir := t.TempDir()
	pki := gelftest.NewPKI(t)
	srv := gelftest.NewServer(t, gelftest.Options{})
	logPath := filepath.Join(dir, "audit.log")
	writeEvents(t, logPath, 0, 300)
	tokenFile := filepath.Join(dir, "token")
	const token = "0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	spoolDir := filepath.Join(dir, "spool")
	a := startAgent(t, nil, "--path", logPath, "--checkpoint", filepath.Join(dir, "ckpt.json"),
		"--webhook-listen", addr, "--webhook-cert", pki.ServerCertFile, "--webhook-key", pki.ServerKeyFile,
		"--webhook-client-ca", pki.CAFile, "--webhook-token-file", tokenFile, "--spool-dir", spoolDir,
		"--endpoint", srv.Endpoint(), "--metrics-addr", "127.0.0.1:0")
	a.waitStarted(t)
	maddr := metricsAddr(t, a)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pki.CAPool, Certificates: []tls.Certificate{pki.ClientCert}}}}
	post := func(body []byte, withToken bool) int {
		req, err := http.NewRequest(http.MethodPost, "https://"+addr+"/audit", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if withToken {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for b := range 3 {
		if code := post(webhookBody(300+b*100, 100), true); code != http.StatusOK {
			t.Fatalf("batch %d: status %d, want 200", b, code)
		}
	}
	if code := post(webhookBody(900, 10), false); code != http.StatusUnauthorized {
		t.Fatalf("batch without the token: status %d, want 401", code)
	}
	waitDistinct(t, srv, 600, 20*time.Second)
	frames := srv.Messages()
	d := tally(t, frames, nil)
	if m := missing(d, 600); len(m) > 0 {
		t.Fatalf("%d events missing, first %v", len(m), m[:min(5, len(m))])
	}
	if d["seq-000900"] != 0 {
		t.Fatal("an event of the refused batch was shipped")
	}
	// The spooled lines are the events as the log backend writes them.
	spooled, err := os.ReadFile(filepath.Join(spoolDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(eventLine, 300); !strings.HasPrefix(string(spooled), want) {
		t.Fatalf("spool starts with %.200q, want %.200q", spooled, want)
	}

	_, page := get(t, "http://"+maddr+"/metrics")
	for name, want := range map[string]string{
		"audittail_webhook_batches_total":                       "3",
		"audittail_webhook_events_total":                        "300",
		`audittail_webhook_refused_total{reason="no_token"}`:    "1",
		"audittail_spool_files":                                 "1",
		"audittail_spool_broken":                                "0",
		`audittail_log_lag_bytes{log="webhook"}`:                "0",
		`audittail_log_lost_files_total{log="` + logPath + `"}`: "0",
	} {
		if got := metricValue(page, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if code, body := get(t, "http://"+maddr+"/readyz/webhook"); code != http.StatusOK {
		t.Errorf("/readyz/webhook: %d %s", code, body)
	}
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, a.stderr.String())
	}
	// Each input has its checkpoint at its end.
	for _, c := range []struct{ ckpt, file string }{
		{filepath.Join(dir, "ckpt.json"), logPath},
		{filepath.Join(spoolDir, "checkpoint.json"), filepath.Join(spoolDir, "audit.log")},
	} {
		waitCheckpoint(t, c.ckpt, fileSize(t, c.file))
	}
}

// audittail check with the webhook receiver: its certificate and key are
// checked (and an expired one fails), the spool directory's checkpoint
// too, without creating anything.
func TestCheckWebhook(t *testing.T) {
	dir := t.TempDir()
	pki := gelftest.NewPKI(t)
	srv := gelftest.NewServer(t, gelftest.Options{})
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	spoolDir := filepath.Join(dir, "spool")
	args := []string{"--webhook-listen", "127.0.0.1:0", "--webhook-key", pki.ServerKeyFile, "--webhook-token-file", tokenFile,
		"--spool-dir", spoolDir, "--endpoint", srv.Endpoint()}
	out, code := runCheckCmd(t, nil, append(args, "--webhook-cert", pki.ServerCertFile)...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// The test certificate is valid for a day: a warning, not a failure.
	for _, want := range []string{"webhook receiver only", "warn  webhook TLS", "load and match; the certificate expires on", "in less than 30 days"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(spoolDir); !os.IsNotExist(err) {
		t.Errorf("check created the spool directory: %v", err)
	}
	// The client certificate is no server certificate: the check fails,
	// naming the file.
	out, code = runCheckCmd(t, nil, append(args, "--webhook-cert", pki.ClientCertFile)...)
	if code == 0 || !strings.Contains(out, pki.ClientCertFile) {
		t.Fatalf("a certificate not for a server: exit %d:\n%s", code, out)
	}
}
