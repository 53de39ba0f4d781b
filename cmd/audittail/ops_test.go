package main

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/internal/gelftest"
)

// Operability of the built binary: the udp:// and http(s):// transports,
// the check subcommand, metrics and health, and SIGHUP.

// writeEvents appends events from..from+n-1 (eventLine) to path.
func writeEvents(t *testing.T, path string, from, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i < from+n; i++ {
		if _, err := fmt.Fprintf(f, eventLine, i); err != nil {
			t.Fatal(err)
		}
	}
}

// waitCheckpoint waits until the checkpoint file says offset.
func waitCheckpoint(t *testing.T, path string, offset int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		saved, err := checkpoint.Read(path)
		if err == nil && saved.Position.Offset == offset {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %s: %+v, %v; want offset %d", path, saved.Position, err, offset)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestShipOverUDPAndHTTP ships the same events over udp:// (gzip) and
// http:// (bulk): every event arrives exactly once and the checkpoint ends
// at the end of the file.
func TestShipOverUDPAndHTTP(t *testing.T) {
	const n = 2000
	for _, tc := range []struct {
		name string
		args func(t *testing.T) (endpoint []string, messages func(n int) [][]byte)
	}{
		{"udp", func(t *testing.T) ([]string, func(int) [][]byte) {
			srv := gelftest.NewUDPServer(t, gelftest.UDPOptions{RecvBuffer: 4 << 20})
			return []string{"--endpoint", srv.Endpoint()}, func(n int) [][]byte { return srv.WaitForCount(t, n, 30*time.Second) }
		}},
		{"http bulk", func(t *testing.T) ([]string, func(int) [][]byte) {
			srv := gelftest.NewHTTPServer(t, gelftest.HTTPOptions{Bulk: true})
			cfg := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(cfg, []byte("output:\n  endpoint: "+srv.URL()+"\n  http_bulk: true\n"), 0o600)
			return []string{"--config", cfg}, func(n int) [][]byte { return srv.WaitForCount(t, n, 30*time.Second) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logPath := filepath.Join(dir, "audit.log")
			ckpt := filepath.Join(dir, "checkpoint.json")
			// Paced in bursts of 100: a UDP input on loopback drops what
			// overflows its receive buffer, which would test the kernel.
			writeEvents(t, logPath, 0, 100)
			endpoint, messages := tc.args(t)
			a := startAgent(t, []string{"AUDITTAIL_STREAM=tok-ops"}, append(endpoint, "--path", logPath, "--checkpoint", ckpt, "--host", "cp-1")...)
			a.waitStarted(t)
			for i := 100; i < n; i += 100 {
				messages(i)
				writeEvents(t, logPath, i, 100)
			}
			frames := messages(n)
			distinct := tally(t, frames, func(m map[string]any) {
				if m["_X-OVH-TOKEN"] != "tok-ops" || m["host"] != "cp-1" {
					t.Fatalf("message without token or host: %v", m)
				}
			})
			if len(frames) != n || len(distinct) != n || len(missing(distinct, n)) != 0 {
				t.Fatalf("%d messages, %d distinct, missing %v", len(frames), len(distinct), missing(distinct, n))
			}
			waitCheckpoint(t, ckpt, fileSize(t, logPath))
			if code := a.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("exit code %d", code)
			}
		})
	}
}

// runCheckCmd runs `audittail check args...` and returns its output and
// exit code.
func runCheckCmd(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"check"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("check: %v", err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

func TestCheckPasses(t *testing.T) {
	dir := t.TempDir()
	pki := gelftest.NewPKI(t)
	srv := gelftest.NewServer(t, gelftest.Options{TLS: pki.ServerTLS(tls.NoClientCert)})
	logPath := filepath.Join(dir, "audit.log")
	writeEvents(t, logPath, 0, 3)
	out, code := runCheckCmd(t, []string{"AUDITTAIL_STREAM=tok-check"},
		"--path", logPath, "--endpoint", srv.Endpoint(), "--ca-cert", pki.CAFile,
		"--checkpoint", filepath.Join(dir, "state", "checkpoint.json"), "--host", "cp-1", "--send-test")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ok +configuration +valid`),
		regexp.MustCompile(`(?m)^ok +audit log +` + regexp.QuoteMeta(logPath) + ` readable \(\d+ bytes; first event seq-000000, `),
		regexp.MustCompile(`(?m)^ok +checkpoint +none yet: a first start; directory .*/state will be created`),
		regexp.MustCompile(`(?m)^ok +stream token +set \(9 characters`),
		regexp.MustCompile(`(?m)^ok +connect +` + regexp.QuoteMeta(srv.Endpoint()) + `: TCP connection and TLS handshake succeeded`),
		regexp.MustCompile(`(?m)^ok +test message +received by the server's TCP stack; search for check_id:([0-9a-f]{16})`),
		regexp.MustCompile(`(?m)^ok +permissions +the files holding secrets and the checkpoint directory are private`),
		regexp.MustCompile(`(?m)^all 8 checks passed$`),
		regexp.MustCompile(`(?m)^ok +trusted roots +the system.s CA bundle, and .*ca\.pem$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("output does not match %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "tok-check") {
		t.Error("the token is printed")
	}
	id := regexp.MustCompile(`check_id:([0-9a-f]{16})`).FindStringSubmatch(out)
	frames := srv.WaitForCount(t, 1, 10*time.Second)
	var m map[string]any
	if err := json.Unmarshal(frames[0], &m); err != nil {
		t.Fatal(err)
	}
	if id == nil || m["_check_id"] != id[1] || m["_X-OVH-TOKEN"] != "tok-check" || m["host"] != "cp-1" {
		t.Fatalf("test message %v, check id %v", m, id)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Errorf("check created the checkpoint directory: %v", err)
	}
}

func TestCheckFailures(t *testing.T) {
	dir := t.TempDir()
	pki, other := gelftest.NewPKI(t), gelftest.NewPKI(t)
	srv := gelftest.NewServer(t, gelftest.Options{TLS: pki.ServerTLS(tls.NoClientCert)})
	logDir := filepath.Join(dir, "audit")
	os.Mkdir(logDir, 0o700)
	logPath := filepath.Join(logDir, "audit.log")
	writeEvents(t, logPath, 0, 1)

	t.Run("wrong CA", func(t *testing.T) {
		out, code := runCheckCmd(t, nil, "--path", logPath, "--endpoint", srv.Endpoint(), "--ca-cert", other.CAFile,
			"--checkpoint", filepath.Join(dir, "c.json"), "--send-test")
		if code != 1 || !regexp.MustCompile(`(?m)^FAIL +connect +connect `+regexp.QuoteMeta(srv.Endpoint())+`: .*certificate signed by unknown authority`).MatchString(out) ||
			!strings.Contains(out, "1 of 7 checks failed") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if srv.Count() != 0 {
			t.Error("a message was sent over an unverified connection")
		}
	})
	t.Run("LDP without a token", func(t *testing.T) {
		out, code := runCheckCmd(t, nil, "--path", logPath, "--endpoint", "tls://gra1.logs.ovh.com:12202",
			"--checkpoint", filepath.Join(dir, "c.json"))
		if code != 1 || !regexp.MustCompile(`(?m)^FAIL +stream token +not set, but gra1.logs.ovh.com is Logs Data Platform`).MatchString(out) {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("unreadable log as another user", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to run the check as another user")
		}
		// The log is 0600 root in a 0700 directory, as kube-apiserver
		// writes it; nobody (65534) cannot list it. The binary is copied
		// where nobody may run it (t.TempDir's parent is 0700).
		pub, err := os.MkdirTemp("", "audittail-check-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(pub) })
		os.Chmod(pub, 0o755)
		logDir := filepath.Join(pub, "audit")
		os.Mkdir(logDir, 0o700)
		logPath := filepath.Join(logDir, "audit.log")
		writeEvents(t, logPath, 0, 1)
		bin := filepath.Join(pub, "audittail")
		b, err := os.ReadFile(binary)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(bin, b, 0o755)
		cmd := exec.Command(bin, "check", "--path", logPath, "--endpoint", "-", "--checkpoint", filepath.Join(pub, "c.json"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		outb, _ := cmd.CombinedOutput()
		out, code := string(outb), cmd.ProcessState.ExitCode()
		if code != 1 || !regexp.MustCompile(`(?m)^FAIL +audit log +cannot list directory `+regexp.QuoteMeta(logDir)+`: .*permission denied \(uid 65534: run as root, or with CAP_DAC_READ_SEARCH as the systemd unit`).MatchString(out) {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("loose files and a token in clear", func(t *testing.T) {
		tok := filepath.Join(dir, "token")
		os.WriteFile(tok, []byte("tok-loose-file\n"), 0o644)
		out, code := runCheckCmd(t, nil, "--path", logPath, "--endpoint", "tcp://127.0.0.1:9", "--stream-file", tok,
			"--checkpoint", filepath.Join(dir, "c.json"))
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^warn +endpoint +tcp:// sends the stream token and the audit trail in clear`),
			regexp.MustCompile(`(?m)^warn +permissions +stream token file ` + regexp.QuoteMeta(tok) + ` is readable by group or others \(mode 0644\)`),
		} {
			if !want.MatchString(out) {
				t.Errorf("exit %d, output does not match %s:\n%s", code, want, out)
			}
		}
		if strings.Contains(out, "tok-loose-file") {
			t.Error("the token is printed")
		}
	})
	t.Run("bad configuration", func(t *testing.T) {
		out, code := runCheckCmd(t, nil, "--endpoint", "ftp://x")
		if code != 2 || !regexp.MustCompile(`(?m)^FAIL +configuration +output.endpoint "ftp://x": unsupported scheme`).MatchString(out) {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
}

// metricsAddr waits for the "metrics listening" log line and returns its
// address.
func metricsAddr(t *testing.T, a *agentProc) string {
	t.Helper()
	re := regexp.MustCompile(`"addr":"([^"]+)"[^\n]*"message":"metrics listening"`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(a.stderr.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no metrics address in the log:\n%s", a.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue reads one unlabelled sample from a /metrics page.
func metricValue(page, name string) string {
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return ""
}

// TestMetricsAndHealth runs the agent with --metrics-addr: the counters
// follow what was shipped, and /readyz turns 503 when the server goes away.
func TestMetricsAndHealth(t *testing.T) {
	const n = 500
	dir := t.TempDir()
	srv := gelftest.NewServer(t, gelftest.Options{})
	logPath := filepath.Join(dir, "audit.log")
	writeEvents(t, logPath, 0, n)
	a := startAgent(t, nil, "--path", logPath, "--endpoint", srv.Endpoint(), "--checkpoint", filepath.Join(dir, "c.json"),
		"--metrics-addr", "127.0.0.1:0")
	base := "http://" + metricsAddr(t, a)
	srv.WaitForCount(t, n, 20*time.Second)

	deadline := time.Now().Add(10 * time.Second)
	for {
		_, page := get(t, base+"/metrics")
		if metricValue(page, "audittail_events_confirmed_total") == fmt.Sprint(n) {
			for name, want := range map[string]string{
				"audittail_events_read_total":     fmt.Sprint(n),
				"audittail_events_sent_total":     fmt.Sprint(n),
				"audittail_parse_errors_total":    "0",
				"audittail_output_connected":      "1",
				"audittail_files_open":            "1",
				"audittail_unconfirmed_events":    "0",
				"audittail_lag_bytes":             "0",
				"audittail_lost_bytes_total":      "0",
				"audittail_events_replayed_total": "0",
				"go_gc_gogc_percent":              wantGOGC(),
			} {
				if got := metricValue(page, name); got != want {
					t.Errorf("%s = %q, want %s", name, got, want)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events_confirmed_total never reached %d:\n%s", n, page)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz while shipping: %d %s", code, body)
	}

	srv.Stop()
	deadline = time.Now().Add(20 * time.Second)
	for {
		code, body := get(t, base+"/readyz")
		if code == 503 && strings.HasPrefix(body, "not connected") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz with the server down: %d %q", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz with the server down: %d (liveness must not depend on the server)", code)
	}
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// wantGOGC is the agent's GC percent as /metrics shows it: gcPercent, or
// the GOGC the tests run with.
func wantGOGC() string {
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	return fmt.Sprint(gcPercent)
}

// TestSIGHUP: logrotate moves the log file and the token file is replaced;
// after SIGHUP the agent writes to a new log file and sends the new token,
// without losing or repeating an event.
func TestSIGHUP(t *testing.T) {
	dir := t.TempDir()
	srv := gelftest.NewServer(t, gelftest.Options{})
	logPath := filepath.Join(dir, "audit.log")
	tokenFile := filepath.Join(dir, "token")
	agentLog := filepath.Join(dir, "agent.log")
	ckpt := filepath.Join(dir, "c.json")
	os.WriteFile(tokenFile, []byte("token-one\n"), 0o600)
	writeEvents(t, logPath, 0, 100)
	a := startAgent(t, nil, "--path", logPath, "--endpoint", srv.Endpoint(), "--checkpoint", ckpt,
		"--stream-file", tokenFile, "--log-file", agentLog)
	srv.WaitForCount(t, 100, 20*time.Second)
	waitCheckpoint(t, ckpt, fileSize(t, logPath))

	if err := os.Rename(agentLog, agentLog+".1"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(tokenFile, []byte("token-two\n"), 0o600)
	a.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(agentLog)
		if strings.Contains(string(b), "SIGHUP: reloaded") {
			if !strings.Contains(string(b), `"stream_token_changed":true`) {
				t.Fatalf("reload line does not say the token changed:\n%s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reload line in the new log file %s", agentLog)
		}
		time.Sleep(20 * time.Millisecond)
	}
	writeEvents(t, logPath, 100, 100)
	frames := srv.WaitForCount(t, 200, 20*time.Second)
	distinct := tally(t, frames, nil)
	if len(frames) != 200 || len(distinct) != 200 {
		t.Fatalf("%d messages, %d distinct: the reload lost or repeated events", len(frames), len(distinct))
	}
	for i, f := range frames {
		var m map[string]any
		json.Unmarshal(f, &m)
		want := "token-one"
		if i >= 100 {
			want = "token-two"
		}
		if m["_X-OVH-TOKEN"] != want {
			t.Fatalf("message %d has token %v, want %s", i, m["_X-OVH-TOKEN"], want)
		}
	}
	old, err := os.ReadFile(agentLog + ".1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(old), "audittail starting") || strings.Contains(string(old), "SIGHUP: reloaded") {
		t.Errorf("the rotated log file should hold the start, not the reload:\n%s", old)
	}
	// A token file that became empty keeps the current token, with an error.
	os.WriteFile(tokenFile, nil, 0o600)
	a.cmd.Process.Signal(syscall.SIGHUP)
	deadline = time.Now().Add(10 * time.Second)
	for b, _ := os.ReadFile(agentLog); !strings.Contains(string(b), "stream token not reloaded; keeping the current one"); b, _ = os.ReadFile(agentLog) {
		if time.Now().After(deadline) {
			t.Fatalf("no error for an empty token file:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	writeEvents(t, logPath, 200, 1)
	frames = srv.WaitForCount(t, 201, 20*time.Second)
	if !strings.Contains(string(frames[200]), `"_X-OVH-TOKEN":"token-two"`) {
		t.Fatalf("after a failed reload: %s", frames[200])
	}
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestUDPOversizeEventIsCut: an event whose message compresses too badly
// to fit 128 UDP chunks is encoded again, smaller, flagged
// _truncated_bool, and shipped; the events around it are untouched.
func TestUDPOversizeEventIsCut(t *testing.T) {
	dir := t.TempDir()
	srv := gelftest.NewUDPServer(t, gelftest.UDPOptions{RecvBuffer: 4 << 20})
	logPath := filepath.Join(dir, "audit.log")
	random := make([]byte, 300_000)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	noisy := strings.Replace(fmt.Sprintf(eventLine, 1), `"annotations":{`,
		`"annotations":{"example.com/blob":"`+base64.StdEncoding.EncodeToString(random)+`",`, 1)
	os.WriteFile(logPath, []byte(fmt.Sprintf(eventLine, 0)+noisy+fmt.Sprintf(eventLine, 2)), 0o600)
	ckpt := filepath.Join(dir, "c.json")
	a := startAgent(t, nil, "--path", logPath, "--endpoint", srv.Endpoint(), "--checkpoint", ckpt)
	frames := srv.WaitForCount(t, 3, 20*time.Second)
	for i, f := range frames {
		var m map[string]any
		if err := json.Unmarshal(f, &m); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("seq-%06d", i); m["_auditID"] != want {
			t.Fatalf("message %d is %v, want %s", i, m["_auditID"], want)
		}
		if cut := m["_truncated_bool"] == "true"; cut != (i == 1) {
			t.Errorf("message %d: _truncated_bool %v", i, m["_truncated_bool"])
		}
	}
	// Cut to max_message_bytes (256 KiB) the message still compresses to
	// more than 128 chunks carry (180 KB): it must have been encoded again,
	// smaller.
	if len(frames[1]) > 240_000 {
		t.Errorf("oversize message is %d bytes: it was not re-encoded below max_message_bytes", len(frames[1]))
	}
	if errs := srv.Errors(); len(errs) != 0 {
		t.Errorf("protocol errors: %v", errs)
	}
	waitCheckpoint(t, ckpt, fileSize(t, logPath))
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
