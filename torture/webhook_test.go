package torture

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/gelftest"
)

// poster sends the writer's events to the agent's webhook receiver as
// kube-apiserver's webhook backend does: EventList batches over HTTPS with
// a client certificate. Unlike kube-apiserver, which gives up on a batch
// after its backoff, it retries a refused batch until it is accepted (for
// two minutes at most), so that any loss is the agent's.
type poster struct {
	url    string
	client *http.Client

	batches, retries atomic.Int64
	lastStatus       atomic.Int64
}

func newPoster(url string, pki *gelftest.PKI) *poster {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pki.CAPool, Certificates: []tls.Certificate{pki.ClientCert}, MinVersion: tls.VersionTLS12},
		MaxIdleConns:    2,
	}
	return &poster{url: url, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// send posts body until the receiver answers 200. A refusal that retrying
// cannot cure (a 4xx other than 429) is an error at once.
func (p *poster) send(body []byte) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := p.client.Post(p.url, "application/json", bytes.NewReader(body))
		if err == nil {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			p.lastStatus.Store(int64(resp.StatusCode))
			switch c := resp.StatusCode; {
			case c == http.StatusOK:
				p.batches.Add(1)
				return nil
			case c >= 400 && c < 500 && c != http.StatusTooManyRequests:
				return fmt.Errorf("batch refused with %d: %s", c, msg)
			}
			err = fmt.Errorf("status %d: %s", resp.StatusCode, msg)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("batch not accepted in 2 minutes: %w", err)
		}
		p.retries.Add(1)
		time.Sleep(50 * time.Millisecond)
	}
}

// eventListHead and eventItemPrefix: a webhook batch is an EventList whose
// items carry no kind and apiVersion (kube-apiserver's webhook backend
// encodes the list, not each event, k8s.io/apiserver
// plugin/pkg/audit/webhook/webhook.go); the receiver writes them back.
const (
	eventListHead   = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`
	eventItemPrefix = `{"kind":"Event","apiVersion":"audit.k8s.io/v1",`
)

// freePort returns a port of 127.0.0.1 free a moment ago.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// newWebhookScenario is a scenario whose agent only receives the webhook,
// on a fixed port (the same for every start), and spools into the
// scenario's directory: the spool's live file is s.logPath and its
// checkpoint s.ckpt, so the scenario's checks apply to it as to a log.
func newWebhookScenario(t *testing.T, name string) (*scenario, *poster) {
	if testing.Short() {
		t.Skip("torture scenarios are long; run make torture-short or make torture")
	}
	dir := t.TempDir()
	s := &scenario{
		t:       t,
		name:    name,
		dir:     dir,
		logPath: filepath.Join(dir, "audit.log"),
		ckpt:    filepath.Join(dir, "checkpoint.json"),
		begin:   time.Now(),
		timeout: 120*time.Second + 3*duration(t),
	}
	s.srv = gelftest.NewServer(t, gelftest.Options{})
	pki := gelftest.NewPKI(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	// 1 MiB spool files (the smallest): the spool rotates every ~850
	// events, and its pruning runs all along.
	conf := filepath.Join(dir, "audittail.yaml")
	if err := os.WriteFile(conf, []byte("spool:\n  file_bytes: 1048576\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.ag = newAgents(t, "--config", conf, "--webhook-listen", addr, "--webhook-cert", pki.ServerCertFile, "--webhook-key", pki.ServerKeyFile,
		"--webhook-client-ca", pki.CAFile, "--spool-dir", dir, "--endpoint", s.srv.Endpoint(),
		"--checkpoint", filepath.Join(dir, "unused-ckpt.json"), "--log-level", "info")
	p := newPoster("https://"+addr+"/audit", pki)
	s.w = &writer{rate: rate(t), post: p}
	t.Cleanup(func() {
		if t.Failed() {
			dumpDir(t, dir)
		}
	})
	return s, p
}

// webhook-kill-restart: the events come as webhook batches; every 1 to 3 s
// (random, seeded) the agent is killed with SIGKILL and started again on
// the same port and spool, and once the log server is stopped for 3 s.
// The sender retries what was refused or unanswered, as kube-apiserver
// does; every event must arrive, duplicates bounded as in kill-restart
// (plus the batches answered 200 by nobody: accepted, then killed before
// the answer, and sent again).
func testWebhookKillRestart(t *testing.T) {
	s, p := newWebhookScenario(t, "webhook-kill-restart")
	sd := seed(t)
	t.Logf("seed %d (TORTURE_SEED=%d repeats the kill times)", sd, sd)
	rng := rand.New(rand.NewPCG(sd, 1))
	s.firstStart()
	s.goWrite(time.Now().Add(duration(t)), nil)
	s.killWhileWriting(rng, 3*time.Second) // the receiver keeps taking batches into its spool
	s.waitWriter()
	s.notes = append(s.notes, fmt.Sprintf("batches=%d retries=%d", p.batches.Load(), p.retries.Load()))
	s.finish()
	// The spool is pruned behind the checkpoint's durable position (its
	// previous generation): one more start, which prunes at once, leaves
	// no backup older than the file that position names.
	c, err := readCheckpoint(s.ckpt + ".prev")
	if err != nil {
		t.Fatal(err)
	}
	a := s.ag.start()
	s.ag.waitStarted(a)
	var old []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		old = spoolBackupsBefore(t, s.dir, c.Inode)
		if len(old) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if code := s.ag.stop(a, syscall.SIGTERM); code != 0 {
		t.Errorf("agent #%d: exit code %d after SIGTERM, want 0", a.n, code)
	}
	all, _ := filepath.Glob(filepath.Join(s.dir, "audit-*.log"))
	t.Logf("spool after a restart: %d backups, none older than the durable position's file (inode %d) expected", len(all), c.Inode)
	if len(old) > 0 {
		t.Errorf("backups older than the checkpoint's durable position were not pruned: %v", old)
	}
}

// spoolBackupsBefore lists the spool's backups (audit-<time>.log, in time
// order by name) older than the file with inode ino; none when ino is the
// live file's, or names no file (everything before it is then unknown).
func spoolBackupsBefore(t *testing.T, dir string, ino uint64) []string {
	backups, _ := filepath.Glob(filepath.Join(dir, "audit-*.log"))
	sort.Strings(backups)
	for i, b := range backups {
		var st syscall.Stat_t
		if syscall.Stat(b, &st) == nil && st.Ino == ino {
			return backups[:i]
		}
	}
	var st syscall.Stat_t
	if syscall.Stat(filepath.Join(dir, "audit.log"), &st) == nil && st.Ino == ino {
		return backups
	}
	t.Logf("the durable position's inode %d names no spool file", ino)
	return nil
}
