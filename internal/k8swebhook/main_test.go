package k8swebhook

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/plugin/pkg/audit/buffered"
	"k8s.io/apiserver/plugin/pkg/audit/webhook"
	"k8s.io/klog/v2"

	"github.com/audittail/audittail/internal/agenttest"
	"github.com/audittail/audittail/internal/auditgen"
)

// binary is the agent, built once for every test.
var binary string

// klogs collects what k8s.io/apiserver and client-go log through klog: a
// batch the webhook client gives up on, or that the buffered backend cannot
// queue, is reported there (audit.HandlePluginError) and nowhere else.
var klogs = &klogCapture{}

func TestMain(m *testing.M) {
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	_ = klogFlags.Set("logtostderr", "false")
	_ = klogFlags.Set("alsologtostderr", "false")
	_ = klogFlags.Set("stderrthreshold", "FATAL")
	// klog writes a message to the output of its severity and of every
	// lower one: only INFO's gets everything once.
	klog.SetOutputBySeverity("INFO", klogs)
	for _, sev := range []string{"WARNING", "ERROR", "FATAL"} {
		klog.SetOutputBySeverity(sev, io.Discard)
	}

	// The agent is built in its own module (../..), with the versions of
	// its own go.mod: built from here, the dependencies this module
	// requires for k8s.io/apiserver could raise some of them.
	wd, err := os.Getwd()
	if err == nil {
		err = os.Chdir("../..")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, cleanup, err := agenttest.Build("./cmd/audittail")
	if cerr := os.Chdir(wd); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// klogCapture keeps klog's output (up to 4 MiB) and counts the batches
// reported lost by audit.HandlePluginError.
type klogCapture struct {
	mu           sync.Mutex
	b            bytes.Buffer
	pluginErrors int
}

// pluginErrorLine starts audit.HandlePluginError's log message
// (k8s.io/apiserver pkg/audit/metrics.go): one per batch given up.
const pluginErrorLine = "Error in audit plugin"

func (k *klogCapture) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pluginErrors += bytes.Count(p, []byte(pluginErrorLine))
	if k.b.Len() < 4<<20 {
		k.b.Write(p)
	}
	return len(p), nil
}

// reset forgets what was logged (each test starts afresh).
func (k *klogCapture) reset() {
	klog.Flush()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.b.Reset()
	k.pluginErrors = 0
}

// snapshot returns the number of batches reported lost and the log.
func (k *klogCapture) snapshot() (pluginErrors int, log string) {
	klog.Flush()
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.pluginErrors, k.b.String()
}

// pki is a CA with a server certificate for 127.0.0.1 and a client
// certificate (kube-apiserver's, for the webhook kubeconfig), as PEM files.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newPKI(t *testing.T, dir string) *pki {
	t.Helper()
	now := time.Now()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := func() *big.Int {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "k8swebhook test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{caFile: write("ca.pem", "CERTIFICATE", caDER)}
	leaf := func(name string, tmpl *x509.Certificate) (certFile, keyFile string) {
		key := newKey()
		tmpl.SerialNumber = serial()
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "PRIVATE KEY", keyDER)
	}
	p.serverCert, p.serverKey = leaf("server", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "audittail webhook"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.clientCert, p.clientKey = leaf("client", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver-audit"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return p
}

// writeToken writes a random bearer token to dir/name and returns the
// token and the file.
func writeToken(t *testing.T, dir, name string) (token, file string) {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	token = hex.EncodeToString(b)
	file = filepath.Join(dir, name)
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return token, file
}

// creds are the user part of a webhook kubeconfig; empty fields are left
// out.
type creds struct {
	cert, key, token string
}

// writeKubeconfig writes the kubeconfig kube-apiserver's
// --audit-webhook-config-file would name: the receiver at server, trusted
// through caFile, and the user c.
func writeKubeconfig(t *testing.T, path, server, caFile string, c creds) string {
	t.Helper()
	var user strings.Builder
	for _, kv := range [][2]string{{"client-certificate", c.cert}, {"client-key", c.key}, {"token", c.token}} {
		if kv[1] != "" {
			fmt.Fprintf(&user, "    %s: %s\n", kv[0], strconv.Quote(kv[1]))
		}
	}
	userBlock := "  user:\n" + user.String()
	if user.Len() == 0 {
		userBlock = "  user: {}\n"
	}
	doc := "apiVersion: v1\nkind: Config\n" +
		"clusters:\n- name: audittail\n  cluster:\n" +
		"    server: " + strconv.Quote(server) + "\n" +
		"    certificate-authority: " + strconv.Quote(caFile) + "\n" +
		"users:\n- name: kube-apiserver\n" + userBlock +
		"contexts:\n- name: audit-webhook\n  context:\n    cluster: audittail\n    user: kube-apiserver\n" +
		"current-context: audit-webhook\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeAddr returns 127.0.0.1:PORT with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// client is kube-apiserver's audit webhook client: the webhook backend
// from a kubeconfig, behind the buffered (batch mode) backend, with
// counting in between.
type client struct {
	batched  audit.Backend
	counting *countingBackend
	stopCh   chan struct{}
	stopOnce sync.Once
}

// newClient builds and runs the client as kube-apiserver does
// (pkg/server/options/audit.go: webhook.NewBackend with the configured
// initial back-off, then buffered.NewBackend in batch mode), with retry as
// its back-off.
func newClient(t *testing.T, kubeconfig string, retry wait.Backoff, batch buffered.BatchConfig) *client {
	t.Helper()
	delegate, err := webhook.NewBackend(kubeconfig, auditv1.SchemeGroupVersion, retry, nil)
	if err != nil {
		t.Fatalf("webhook.NewBackend: %v", err)
	}
	c := &client{counting: &countingBackend{Backend: delegate}, stopCh: make(chan struct{})}
	c.batched = buffered.NewBackend(c.counting, batch)
	if err := c.batched.Run(c.stopCh); err != nil {
		t.Fatalf("buffered backend: Run: %v", err)
	}
	t.Cleanup(c.shutdown)
	return c
}

// shutdown stops the client: it sends what it buffered and waits until
// every batch was delivered or given up.
func (c *client) shutdown() {
	c.stopOnce.Do(func() {
		close(c.stopCh)
		c.batched.Shutdown()
	})
}

// countingBackend sits between the buffered backend and the webhook
// backend: it sees each batch the client sends and whether the webhook
// backend delivered it (a 2xx answer) or gave up after its retries
// (ProcessEvents false, which the buffered backend ignores).
type countingBackend struct {
	audit.Backend
	mu        sync.Mutex
	inflight  int
	delivered int
	dropped   int
	lost      []string // auditIDs of the batches given up
}

func (c *countingBackend) ProcessEvents(ev ...*auditinternal.Event) bool {
	c.mu.Lock()
	c.inflight++
	c.mu.Unlock()
	ok := c.Backend.ProcessEvents(ev...)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	if ok {
		c.delivered++
	} else {
		c.dropped++
		for _, e := range ev {
			c.lost = append(c.lost, string(e.AuditID))
		}
	}
	return ok
}

// counts returns the batches in flight, delivered and given up, and the
// auditIDs of those given up.
func (c *countingBackend) counts() (inflight, delivered, dropped int, lost []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inflight, c.delivered, c.dropped, append([]string(nil), c.lost...)
}

// generate returns n events of internal/auditgen (seqs from first on)
// as kube-apiserver's internal audit.Event, the type its backends take,
// and their auditIDs: each line decoded into audit.k8s.io/v1 and converted
// with the audit scheme, as kube-apiserver's own conversion does.
func generate(t *testing.T, seed int64, first, n int) ([]*auditinternal.Event, []string) {
	t.Helper()
	g := auditgen.New(auditgen.Config{Seed: seed, MaxBodyBytes: 64 << 10})
	base := time.Now().Add(-time.Minute).UTC()
	evs := make([]*auditinternal.Event, 0, n)
	ids := make([]string, 0, n)
	var line []byte
	for i := first; i < first+n; i++ {
		line = g.Append(line[:0], int64(i), base.Add(time.Duration(i)*time.Millisecond))
		var v1 auditv1.Event
		if err := json.Unmarshal(line, &v1); err != nil {
			t.Fatalf("auditgen line %d: %v", i, err)
		}
		ev := new(auditinternal.Event)
		if err := audit.Scheme.Convert(&v1, ev, nil); err != nil {
			t.Fatalf("convert event %d: %v", i, err)
		}
		id := string(ev.AuditID)
		if seq, ok := auditgen.SeqOf(id); !ok || seq != int64(i) {
			t.Fatalf("event %d: auditID %q does not carry its seq", i, id)
		}
		evs = append(evs, ev)
		ids = append(ids, id)
	}
	return evs, ids
}

// auditIDOf returns the _auditID of a GELF message, or "".
func auditIDOf(msg []byte) string {
	const key = `"_auditID":"`
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return ""
	}
	rest := msg[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// agentProc runs the agent binary with the same arguments, again and
// again: each start is a run.
type agentProc struct {
	t           *testing.T
	args        []string
	metricsAddr string
	runs        []*agentRun
	cur         *agentRun // the running one, nil between a kill and a start
}

type agentRun struct {
	cmd  *exec.Cmd
	out  *agenttest.Buffer // standard output and error
	done chan struct{}
}

func newAgent(t *testing.T, metricsAddr string, args ...string) *agentProc {
	a := &agentProc{t: t, args: args, metricsAddr: metricsAddr}
	t.Cleanup(func() {
		if r := a.cur; r != nil {
			_ = r.cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			for i, r := range a.runs {
				t.Logf("agent run %d/%d (%v), output:\n%s", i+1, len(a.runs), r.cmd.ProcessState, agenttest.Tail(r.out.String(), 8000))
			}
		}
	})
	return a
}

// start starts a run and waits until its webhook receiver is ready
// (/readyz/webhook answers 200: the agent is running and its spool takes
// batches).
func (a *agentProc) start() {
	t := a.t
	t.Helper()
	if a.cur != nil {
		t.Fatal("agent already running")
	}
	r := &agentRun{cmd: exec.Command(binary, a.args...), out: &agenttest.Buffer{}, done: make(chan struct{})}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	a.runs = append(a.runs, r)
	a.cur = r
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-r.done:
			t.Fatalf("agent exited at start (%v):\n%s", r.cmd.ProcessState, agenttest.Tail(r.out.String(), 8000))
		default:
		}
		if resp, err := hc.Get("http://" + a.metricsAddr + "/readyz/webhook"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not ready after 20 s:\n%s", agenttest.Tail(r.out.String(), 8000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running fails the test if the current run ended on its own.
func (a *agentProc) running() {
	a.t.Helper()
	if r := a.cur; r != nil {
		select {
		case <-r.done:
			a.t.Fatalf("agent exited on its own (%v):\n%s", r.cmd.ProcessState, agenttest.Tail(r.out.String(), 8000))
		default:
		}
	}
}

// kill SIGKILLs the current run and waits until it is gone.
func (a *agentProc) kill() { a.t.Helper(); a.signal(syscall.SIGKILL, 10*time.Second) }

// term sends SIGTERM to the current run and returns its exit status.
func (a *agentProc) term() int { a.t.Helper(); return a.signal(syscall.SIGTERM, 20*time.Second) }

// signal sends sig to the current run, waits at most wait for it to end,
// and returns its exit status.
func (a *agentProc) signal(sig syscall.Signal, wait time.Duration) int {
	t := a.t
	t.Helper()
	a.running()
	r := a.cur
	_ = r.cmd.Process.Signal(sig)
	select {
	case <-r.done:
	case <-time.After(wait):
		t.Fatalf("agent still running %v after %v", wait, sig)
	}
	a.cur = nil
	return r.cmd.ProcessState.ExitCode()
}

// scrape reads the agent's /metrics: each sample, by its name and labels
// as written ("audittail_webhook_refused_total{reason=\"no_token\"}").
func scrape(metricsAddr string) (map[string]float64, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			continue
		}
		out[l[:i]] = v
	}
	return out, sc.Err()
}
