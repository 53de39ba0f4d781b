package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/agenttest"
	"github.com/audittail/audittail/internal/gelftest"
	"gopkg.in/natefinch/lumberjack.v2"
)

// binary is the agent built once for every end-to-end test.
var binary string

func TestMain(m *testing.M) { agenttest.Main(m, ".", &binary) }

// agentProc is one run of the built binary.
type agentProc struct {
	cmd    *exec.Cmd
	stdout *agenttest.Buffer
	stderr *agenttest.Buffer
	done   chan struct{}
	err    error
}

func startAgent(t testing.TB, env []string, args ...string) *agentProc {
	t.Helper()
	a := &agentProc{cmd: exec.Command(binary, args...), stdout: &agenttest.Buffer{}, stderr: &agenttest.Buffer{}, done: make(chan struct{})}
	a.cmd.Stdout, a.cmd.Stderr = a.stdout, a.stderr
	a.cmd.Env = append(os.Environ(), env...)
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.err = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			if t.Failed() { // a goroutine dump says where it is stuck
				a.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-a.done:
				case <-time.After(5 * time.Second):
				}
			}
			a.cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			t.Logf("agent stderr:\n%s", agenttest.Tail(a.stderr.String(), 30000))
		}
	})
	return a
}

// waitStarted waits for the start-up log line: by then the agent holds the
// live file open, so whatever is written afterwards is its to ship.
func (a *agentProc) waitStarted(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(a.stderr.String(), "audittail starting") {
		if time.Now().After(deadline) {
			t.Fatalf("agent did not start:\n%s", a.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop sends sig and returns the exit code, failing if the agent takes more
// than 10 s.
func (a *agentProc) stop(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	a.cmd.Process.Signal(sig)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("agent still running 10 s after %v", sig)
	}
	return a.cmd.ProcessState.ExitCode()
}

func (a *agentProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not exit")
	}
	return a.cmd.ProcessState.ExitCode()
}

// eventLine is a realistic Metadata event; %06d is its sequence number.
const eventLine = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"seq-%06d","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef","verb":"get","user":{"username":"system:serviceaccount:kube-system:generic-garbage-collector","uid":"d5b8c6f4-1f0e-4b1e-9a49-6f6b3b1f4a1e","groups":["system:serviceaccounts","system:serviceaccounts:kube-system","system:authenticated"],"extra":{"authentication.kubernetes.io/credential-id":["JTI=2f4c1c5e-7a39-4b5e-8d5a-0f1e2d3c4b5a"]}},"sourceIPs":["10.0.0.12"],"userAgent":"kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/system:serviceaccount:kube-system:generic-garbage-collector","objectRef":{"resource":"secrets","namespace":"kube-system","name":"bootstrap-token-abcdef","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-21T10:00:00.123456Z","stageTimestamp":"2026-11-21T10:00:00.125790Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"system:controller:generic-garbage-collector\" of ClusterRole \"system:controller:generic-garbage-collector\" to ServiceAccount \"generic-garbage-collector/kube-system\""}}` + "\n"

// auditWriter writes sequenced events through lumberjack as kube-apiserver
// does (one Write per event). Like the tailer's rotation test it never starts
// a rotation in the same millisecond as the previous one: lumberjack's
// backup names have millisecond precision and a second rotation in the same
// millisecond would overwrite the first backup (lumberjack's loss, not the
// agent's; impossible at kube-apiserver's 100 MB files).
type auditWriter struct {
	lj      *lumberjack.Logger
	size    int
	lastRot int64
	n       atomic.Int64
}

func newAuditWriter(t testing.TB, path string) *auditWriter {
	t.Cleanup(func() { // before TempDir's removal: lumberjack gzips in the background
		if err := agenttest.WaitCompressed(filepath.Dir(path), time.Minute); err != nil {
			t.Error(err)
		}
	})
	return &auditWriter{lj: &lumberjack.Logger{Filename: path, MaxSize: 1, Compress: true}}
}

// write appends count events; with pause > 0 it sleeps that long after every
// 100 events (short sleeps are unreliable on a loaded machine).
func (w *auditWriter) write(t testing.TB, count int, pause time.Duration) {
	for i := range count {
		line := fmt.Sprintf(eventLine, w.n.Load())
		if w.size+len(line) > w.lj.MaxSize<<20 {
			for time.Now().UnixMilli() == w.lastRot {
				time.Sleep(100 * time.Microsecond)
			}
			w.lastRot, w.size = time.Now().UnixMilli(), 0
		}
		w.size += len(line)
		if _, err := w.lj.Write([]byte(line)); err != nil {
			t.Error(err)
			return
		}
		w.n.Add(1)
		if pause > 0 && i%100 == 99 {
			time.Sleep(pause)
		}
	}
}

// tally counts distinct sequence numbers among GELF messages.
func tally(t *testing.T, frames [][]byte, check func(map[string]any)) (distinct map[string]int) {
	t.Helper()
	distinct = map[string]int{}
	for _, f := range frames {
		var m map[string]any
		if err := json.Unmarshal(f, &m); err != nil {
			t.Fatalf("frame is not JSON: %v: %.200q", err, f)
		}
		if check != nil {
			check(m)
		}
		id, _ := m["_auditID"].(string)
		distinct[id]++
	}
	return distinct
}

func missing(distinct map[string]int, n int) []string {
	var out []string
	for i := range n {
		if id := fmt.Sprintf("seq-%06d", i); distinct[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

func waitDistinct(t *testing.T, srv *gelftest.Server, n int, timeout time.Duration) {
	t.Helper()
	srv.WaitFor(t, timeout, fmt.Sprintf("%d distinct events", n), func(frames [][]byte) bool {
		if len(frames) < n {
			return false
		}
		seen := map[string]struct{}{}
		for _, f := range frames {
			i := bytes.Index(f, []byte(`"_auditID":"`))
			if i < 0 {
				continue
			}
			rest := f[i+12:]
			if j := bytes.IndexByte(rest, '"'); j >= 0 {
				seen[string(rest[:j])] = struct{}{}
			}
		}
		return len(seen) >= n
	})
}

func TestEndToEndTLSWithRotation(t *testing.T) {
	const n = 12000
	dir := t.TempDir()
	pki := gelftest.NewPKI(t)
	srv := gelftest.NewServer(t, gelftest.Options{TLS: pki.ServerTLS(tls.NoClientCert)})
	logPath := filepath.Join(dir, "audit", "audit.log")
	ckpt := filepath.Join(dir, "state", "checkpoint.json")
	w := newAuditWriter(t, logPath)
	w.write(t, 100, 0) // some history before the agent starts

	a := startAgent(t, []string{"AUDITTAIL_STREAM=tok-e2e"},
		"--path", logPath, "--endpoint", srv.Endpoint(), "--ca-cert", pki.CAFile,
		"--checkpoint", ckpt, "--host", "cp-1")
	a.waitStarted(t)
	w.write(t, n-100, 0)
	w.lj.Close()
	t.Cleanup(func() {
		if t.Failed() {
			dumpDir(t, filepath.Dir(logPath))
		}
	})
	waitDistinct(t, srv, n, 60*time.Second)
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	distinct := tally(t, srv.Messages(), func(m map[string]any) {
		if m["_X-OVH-TOKEN"] != "tok-e2e" || m["host"] != "cp-1" || m["version"] != "1.1" {
			t.Fatalf("message fields: token %v host %v version %v", m["_X-OVH-TOKEN"], m["host"], m["version"])
		}
	})
	if miss := missing(distinct, n); len(miss) > 0 {
		t.Fatalf("%d events missing, first %v", len(miss), miss[0])
	}
	if dups := len(srv.Messages()) - len(distinct); dups != 0 {
		t.Errorf("%d duplicates without any fault", dups)
	}
	if strings.Contains(a.stderr.String(), "tok-e2e") {
		t.Error("the stream token appears in the agent's log")
	}
	// The final checkpoint is at the end of the live file.
	var st struct {
		File struct {
			Offset int64 `json:"offset"`
		} `json:"file"`
	}
	b, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &st)
	fi, _ := os.Stat(logPath)
	if st.File.Offset != fi.Size() {
		t.Errorf("checkpoint offset %d, live file size %d", st.File.Offset, fi.Size())
	}
	gz, _ := filepath.Glob(filepath.Join(dir, "audit", "*.gz"))
	t.Logf("%d events over TLS across %d gzipped backups; %d frames", n, len(gz), len(srv.Messages()))
}

func TestRestartLosesNothing(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			const rounds, perRound = 4, 3000
			n := rounds * perRound
			dir := t.TempDir()
			srv := gelftest.NewServer(t, gelftest.Options{})
			logPath := filepath.Join(dir, "audit.log")
			ckpt := filepath.Join(dir, "checkpoint.json")
			w := newAuditWriter(t, logPath)
			args := []string{"--path", logPath, "--endpoint", srv.Endpoint(), "--checkpoint", ckpt}

			t.Cleanup(func() {
				if t.Failed() {
					dumpDir(t, dir)
				}
			})
			var wg sync.WaitGroup
			for r := range rounds {
				a := startAgent(t, nil, args...)
				if r == 0 {
					// The first start has no checkpoint: it reads the live file from
					// its beginning, so the writer starts once the agent holds it.
					a.waitStarted(t)
					wg.Add(1)
					go func() { defer wg.Done(); w.write(t, n, 2*time.Millisecond) }()
				}
				// Stop it mid-stream, once it has shipped some more events.
				target := len(srv.Messages()) + 300
				srv.WaitFor(t, 60*time.Second, "progress", func(f [][]byte) bool { return len(f) >= target })
				code := a.stop(t, sig)
				if sig == syscall.SIGTERM && code != 0 {
					t.Fatalf("exit code %d after SIGTERM", code)
				}
			}
			wg.Wait()
			w.lj.Close()
			a := startAgent(t, nil, args...)
			waitDistinct(t, srv, n, 60*time.Second)
			a.stop(t, syscall.SIGTERM)
			distinct := tally(t, srv.Messages(), nil)
			if miss := missing(distinct, n); len(miss) > 0 {
				t.Fatalf("%d events missing after %d restarts, first %v", len(miss), rounds, miss[0])
			}
			dups := len(srv.Messages()) - len(distinct)
			t.Logf("%v: %d events, %d restarts, %d duplicates", sig, n, rounds, dups)
			if sig == syscall.SIGTERM && dups != 0 {
				t.Errorf("%d duplicates after clean shutdowns; every sent event should have been confirmed and checkpointed", dups)
			}
		})
	}
}

func TestWrongCAIsAClearError(t *testing.T) {
	dir := t.TempDir()
	srvPKI, otherPKI := gelftest.NewPKI(t), gelftest.NewPKI(t)
	srv := gelftest.NewServer(t, gelftest.Options{TLS: srvPKI.ServerTLS(tls.NoClientCert)})
	logPath := filepath.Join(dir, "audit.log")
	os.WriteFile(logPath, []byte(fmt.Sprintf(eventLine, 0)), 0o600)
	a := startAgent(t, nil, "--path", logPath, "--endpoint", srv.Endpoint(), "--ca-cert", otherPKI.CAFile,
		"--checkpoint", filepath.Join(dir, "ckpt.json"))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(a.stderr.String(), "certificate signed by unknown authority") {
		if time.Now().After(deadline) {
			t.Fatalf("no certificate error in the log:\n%s", a.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(a.stderr.String(), srv.Endpoint()) {
		t.Errorf("the error does not name the endpoint %s:\n%s", srv.Endpoint(), a.stderr.String())
	}
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
	if srv.Count() != 0 {
		t.Errorf("server received %d messages over an unverified connection", srv.Count())
	}
	// Nothing was confirmed, so the checkpoint did not move.
	if b, err := os.ReadFile(filepath.Join(dir, "ckpt.json")); err == nil && bytes.Contains(b, []byte(`"offset":`)) && !bytes.Contains(b, []byte(`"offset":0`)) {
		t.Errorf("checkpoint moved without confirmation: %s", b)
	}
}

func TestStdoutOnSample(t *testing.T) {
	sample := "../../examples/sample-audit.log"
	b, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Count(b, []byte("\n"))
	a := startAgent(t, nil, "--path", sample, "--endpoint", "-", "--checkpoint", filepath.Join(t.TempDir(), "c.json"), "--host", "sample")
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(a.stdout.String(), "\n") < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lines on stdout", strings.Count(a.stdout.String(), "\n"), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := a.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	sc := bufio.NewScanner(strings.NewReader(a.stdout.String()))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stdout line %d is not JSON: %v", n, err)
		}
		if m["host"] != "sample" || m["short_message"] == "" || m["_auditID"] == nil {
			t.Fatalf("line %d: %v", n, m)
		}
		n++
	}
	if n != want {
		t.Fatalf("%d messages, want %d", n, want)
	}
	if !strings.Contains(a.stderr.String(), `"audittail starting"`) {
		t.Error("no start-up line on stderr")
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	badKey := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badKey, []byte("output:\n  endpoint: tcp://127.0.0.1:1\n  endpiont: x\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--bogus"}, "flag provided but not defined: -bogus"},
		{"no endpoint", []string{"--path", "/x"}, "no endpoint"},
		{"bad scheme", []string{"--endpoint", "ftp://x"}, `unsupported scheme "ftp"`},
		{"bad metrics address", []string{"--endpoint", "-", "--metrics-addr", "9102"}, "metrics.addr"},
		{"tls server name on plain tcp", []string{"--endpoint", "tcp://127.0.0.1:1", "--tls-server-name", "x"}, "output.tls_server_name"},
		{"log file in a missing directory", []string{"--endpoint", "-", "--log-file", filepath.Join(dir, "no", "such", "dir", "a.log")}, "open log file"},
		{"unknown config key", []string{"--config", badKey}, `unknown key "output.endpiont"`},
		{"missing config", []string{"--config", filepath.Join(dir, "none.yaml")}, "none.yaml"},
		{"bad start-at", []string{"--endpoint", "-", "--start-at", "middle"}, "start_at"},
		{"empty token file", []string{"--endpoint", "-", "--stream-file", os.DevNull}, "is empty"},
		{"client cert without key", []string{"--endpoint", "tls://127.0.0.1:1", "--client-cert", badKey}, "client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startAgent(t, nil, tc.args...)
			if code := a.wait(t); code != 2 {
				t.Fatalf("exit code %d, want 2; stderr:\n%s", code, a.stderr.String())
			}
			if !strings.Contains(a.stderr.String(), tc.want) {
				t.Fatalf("stderr does not mention %q:\n%s", tc.want, a.stderr.String())
			}
		})
	}
	a := startAgent(t, nil, "--version")
	if code := a.wait(t); code != 0 || !strings.HasPrefix(a.stdout.String(), "audittail ") {
		t.Fatalf("--version: exit %d, output %q", code, a.stdout.String())
	}
}

func TestCorruptCheckpointStops(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "checkpoint.json")
	os.WriteFile(ckpt, []byte("{garbage"), 0o600)
	logPath := filepath.Join(dir, "audit.log")
	os.WriteFile(logPath, nil, 0o600)
	a := startAgent(t, nil, "--path", logPath, "--endpoint", "-", "--checkpoint", ckpt)
	if code := a.wait(t); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if s := a.stderr.String(); !strings.Contains(s, ckpt) || !strings.Contains(s, "mv ") {
		t.Fatalf("the error does not say which file and how to recover:\n%s", s)
	}
	var ee *exec.ExitError
	if !errors.As(a.err, &ee) {
		t.Fatalf("wait: %v", a.err)
	}
}

// dumpDir logs, for each generation of the log, its line count and first and
// last sequence numbers, to tell a lost generation from a lost line.
func dumpDir(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "audit*"))
	re := regexp.MustCompile(`seq-(\d+)`)
	for _, f := range files {
		fh, _ := os.Open(f)
		var r io.Reader = fh
		if filepath.Ext(f) == ".gz" {
			zr, err := gzip.NewReader(fh)
			if err != nil {
				t.Logf("%s: %v", f, err)
				continue
			}
			r = zr
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		first, last, n := "", "", 0
		for sc.Scan() {
			m := re.FindSubmatch(sc.Bytes())
			if first == "" {
				first = string(m[1])
			}
			last = string(m[1])
			n++
		}
		fi, _ := fh.Stat()
		t.Logf("%s: size %d lines %d first %s last %s", filepath.Base(f), fi.Size(), n, first, last)
		fh.Close()
	}
}
