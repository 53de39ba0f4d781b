package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/agenttest"
	"github.com/rs/zerolog"
)

// testPKI is a throw-away CA with certificates signed by it, written as
// PEM files to a t.TempDir(). internal/gelftest's PKI does not expose its
// CA key, and these tests need certificates it does not make (expired
// client certificates, a server-only one used as a client certificate).
type testPKI struct {
	dir    string
	CA     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	CAFile string
	Pool   *x509.CertPool
}

func newTestPKI(t testing.TB, name string) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), caKey: newKey(t), Pool: x509.NewCertPool()}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name + " CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.CA, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.Pool.AddCert(p.CA)
	p.CAFile = writePEM(t, p.dir, name+"-ca.pem", "CERTIFICATE", der)
	return p
}

// leaf is a certificate and its key, as files and loaded.
type leaf struct {
	CertFile, KeyFile string
	Cert              tls.Certificate
}

// issue signs a certificate for usage, valid from notBefore to notAfter
// (zero: from an hour ago for a day), for 127.0.0.1 and localhost.
func (p *testPKI) issue(t testing.TB, name string, usage x509.ExtKeyUsage, notBefore, notAfter time.Time) leaf {
	t.Helper()
	if notBefore.IsZero() {
		notBefore, notAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	l := leaf{
		CertFile: writePEM(t, p.dir, name+".pem", "CERTIFICATE", der),
		KeyFile:  writePEM(t, p.dir, name+"-key.pem", "EC PRIVATE KEY", keyDER),
	}
	if l.Cert, err = tls.LoadX509KeyPair(l.CertFile, l.KeyFile); err != nil {
		t.Fatal(err)
	}
	return l
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t testing.TB, dir, name, content string) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// memAppender is the spool in most tests: it keeps every Append's data,
// or fails with err (keeping nothing), or blocks until unblocked.
type memAppender struct {
	mu      sync.Mutex
	calls   [][]byte
	err     error
	block   chan struct{} // if set, Append waits for it to be closed
	entered chan struct{}
}

func (a *memAppender) Append(data []byte) error {
	a.mu.Lock()
	block, entered := a.block, a.entered
	a.mu.Unlock()
	if block != nil {
		if entered != nil {
			close(entered)
		}
		<-block
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	a.calls = append(a.calls, bytes.Clone(data))
	return nil
}

func (a *memAppender) setErr(err error) {
	a.mu.Lock()
	a.err = err
	a.mu.Unlock()
}

func (a *memAppender) all() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([][]byte(nil), a.calls...)
}

func (a *memAppender) reset() {
	a.mu.Lock()
	a.calls = nil
	a.mu.Unlock()
}

// fileAppender is a spool reduced to its contract: it writes the lines to
// a file and syncs it before returning.
type fileAppender struct {
	mu sync.Mutex
	f  *os.File
	n  int // calls
}

func (a *fileAppender) Append(data []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	if _, err := a.f.Write(data); err != nil {
		return err
	}
	return a.f.Sync()
}

func (a *fileAppender) calls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// errFull is the test spool's "full" error.
var errFull = errors.New("test spool: full")

func isTestFull(err error) bool { return errors.Is(err, errFull) }

// testToken is the bearer token of the test receivers.
const testToken = "c2VjcmV0LXRva2VuLWZvci10ZXN0cw-webhook"

// env is a running receiver with its PKI, spool and credentials.
type env struct {
	t         testing.TB
	pki       *testPKI
	server    leaf
	client    leaf // signed by pki, for client authentication
	tokenFile string
	cfg       Config
	r         *Receiver
	out       appender
	mem       *memAppender // out, unless the test gave its own
	logs      *agenttest.Buffer
	grace     time.Duration // Run's shutdown bound, if not the default
	level     zerolog.Level
	stop      func() error // ends Run and returns its error; idempotent
}

type envOpt func(*env)

func withCA(e *env)    { e.cfg.ClientCAFile = e.pki.CAFile }
func withToken(e *env) { e.cfg.TokenFile = e.tokenFile }
func withMaxBody(n int64) envOpt {
	return func(e *env) { e.cfg.MaxBodyBytes = n }
}
func withRetryAfter(d time.Duration) envOpt {
	return func(e *env) { e.cfg.RetryAfter = d }
}
func withAppender(a appender) envOpt   { return func(e *env) { e.out = a } }
func withGrace(d time.Duration) envOpt { return func(e *env) { e.grace = d } }
func withLevel(l zerolog.Level) envOpt { return func(e *env) { e.level = l } }

// start runs a receiver on 127.0.0.1:0 with opts, stopped when the test ends.
func start(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	e := &env{t: t, pki: newTestPKI(t, "test"), mem: &memAppender{}, logs: &agenttest.Buffer{}, level: zerolog.DebugLevel}
	e.server = e.pki.issue(t, "server", x509.ExtKeyUsageServerAuth, time.Time{}, time.Time{})
	e.client = e.pki.issue(t, "client", x509.ExtKeyUsageClientAuth, time.Time{}, time.Time{})
	e.tokenFile = writeFile(t, e.pki.dir, "token", testToken+"\n")
	e.out = e.mem
	e.cfg = Config{Listen: "127.0.0.1:0", CertFile: e.server.CertFile, KeyFile: e.server.KeyFile}
	for _, o := range opts {
		o(e)
	}
	log := zerolog.New(io.MultiWriter(e.logs, zerolog.NewTestWriter(t))).Level(e.level)
	r, err := New(e.cfg, e.out, isTestFull, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.r = r
	if e.grace > 0 {
		r.grace = e.grace
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	e.stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() {
		if err := e.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
		if strings.Contains(e.logs.String(), testToken) {
			t.Errorf("the token appears in the log")
		}
	})
	return e
}

// clientOpts shape a test client.
type clientOpts struct {
	cert  *tls.Certificate // client certificate, if any
	http2 bool
}

// newClient returns a keep-alive client that trusts the test CA.
func (e *env) newClient(o clientOpts) *http.Client {
	tc := &tls.Config{RootCAs: e.pki.Pool, MinVersion: tls.VersionTLS12}
	if o.cert != nil {
		tc.Certificates = []tls.Certificate{*o.cert}
	}
	tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: o.http2}
	if !o.http2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // HTTP/1.1 only
	}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

func (e *env) url() string { return "https://" + e.r.Addr() + "/audit/webhook" }

// reply is an answer, its body read.
type reply struct {
	status int
	header http.Header
	body   string
	proto  string
	tls    *tls.ConnectionState
}

// do sends a request with body (nil: none) and headers ("Name: value").
func (e *env) do(c *http.Client, method string, body []byte, headers ...string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url(), rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("read answer: %v", err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b), proto: resp.Proto, tls: resp.TLS}
}

// post POSTs an EventList as kube-apiserver does: application/json with
// the bearer token.
func (e *env) post(c *http.Client, body []byte) reply {
	e.t.Helper()
	return e.do(c, http.MethodPost, body, "Content-Type: application/json", "Authorization: Bearer "+testToken)
}

// eventList wraps items (JSON objects) in an EventList of apiVersion
// ("" leaves it out), the way kube-apiserver's codec writes it.
func eventList(apiVersion string, items ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"kind":"EventList",`)
	if apiVersion != "" {
		b.WriteString(`"apiVersion":"` + apiVersion + `",`)
	}
	b.WriteString(`"metadata":{},"items":[`)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(it)
	}
	b.WriteString("]}\n")
	return b.Bytes()
}
