package webhook

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// samples is where the repository keeps the recorded audit events
// (copies of /work/shared/samples/events, see pkg/audit/testdata/README.md).
const samples = "../audit/testdata/samples"

// sampleLines reads the lines of a sample file.
func sampleLines(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(samples, name))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for l := range strings.SplitSeq(strings.TrimRight(string(data), "\n"), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// asSent is an event line as kube-apiserver's webhook sends it as an item
// of an EventList: without the kind and apiVersion its log backend writes
// first. ok is false if the line does not start with them.
func asSent(line, apiVersion string) (item string, ok bool) {
	rest, ok := strings.CutPrefix(line, `{"kind":"Event","apiVersion":"`+apiVersion+`",`)
	return "{" + rest, ok
}

// TestAcceptSamples sends recorded events the way kube-apiserver's webhook
// does and checks what reaches a spool that writes and syncs a file: one
// line per event, in order, one Append per batch, byte for byte what the
// log backend wrote when the recording had kind and apiVersion, and the
// golden files for all (go test -update rewrites them).
func TestAcceptSamples(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "spool"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spool := &fileAppender{f: f}
	e := start(t, withCA, withToken, withAppender(spool))
	c := e.newClient(clientOpts{cert: &e.client.Cert})

	type batch struct {
		golden     string
		apiVersion string
		items      []string
		want       []string // the exact lines, when the recording has them
	}
	var batches []batch
	// audit2rbac's recording of a v1.8 apiserver: every line starts with
	// kind and apiVersion (v1beta1).
	b := batch{golden: "audit2rbac-v1beta1.golden", apiVersion: apiV1beta1}
	for _, l := range sampleLines(t, "audit2rbac/demo-2017-v1beta1.log")[:40] {
		it, ok := asSent(l, apiV1beta1)
		if !ok {
			t.Fatalf("audit2rbac line without kind and apiVersion: %.80s", l)
		}
		b.items, b.want = append(b.items, it), append(b.want, l)
	}
	batches = append(batches, b)
	// Falco's traces: some v1 lines as the apiserver wrote them, some
	// re-serialized with sorted keys and no apiVersion (they get one
	// inserted; their recording has no exact line to compare).
	v1 := batch{golden: "falco-v1.golden", apiVersion: apiV1}
	v1beta1 := batch{golden: "falco-v1beta1.golden", apiVersion: apiV1beta1}
	rewritten := batch{golden: "falco-sorted-no-apiversion.golden", apiVersion: apiV1}
	names, err := filepath.Glob(filepath.Join(samples, "falco-k8s-audit-traces/*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no Falco samples: %v", err)
	}
	for _, name := range names {
		if filepath.Base(name) == "fal_01_003.json" {
			continue // {"kind": 0}: a robustness fixture, see TestItemContentNotJudged
		}
		for _, l := range sampleLines(t, "falco-k8s-audit-traces/"+filepath.Base(name)) {
			if it, ok := asSent(l, apiV1); ok {
				v1.items, v1.want = append(v1.items, it), append(v1.want, l)
			} else if it, ok := asSent(l, apiV1beta1); ok {
				v1beta1.items, v1beta1.want = append(v1beta1.items, it), append(v1beta1.want, l)
			} else if strings.HasPrefix(l, `{"annotations"`) {
				rewritten.items = append(rewritten.items, l)
			}
		}
	}
	batches = append(batches, v1, v1beta1, rewritten)

	var offset int64
	for _, b := range batches {
		t.Run(b.golden, func(t *testing.T) {
			if len(b.items) == 0 {
				t.Fatal("no items")
			}
			calls := spool.calls()
			rep := e.post(c, eventList(b.apiVersion, b.items...))
			if rep.status != http.StatusOK || rep.body != fmt.Sprintf(`{"accepted":%d}`+"\n", len(b.items)) {
				t.Fatalf("answer %d %q", rep.status, rep.body)
			}
			if spool.calls() != calls+1 {
				t.Errorf("%d Append calls for one batch", spool.calls()-calls)
			}
			all, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			got := all[offset:]
			offset = int64(len(all))
			lines := strings.SplitAfter(string(got), "\n")
			lines = lines[:len(lines)-1] // after the last '\n'
			if len(lines) != len(b.items) {
				t.Fatalf("%d lines spooled for %d items", len(lines), len(b.items))
			}
			for i, l := range lines {
				if b.want != nil && l != b.want[i]+"\n" {
					t.Errorf("line %d differs from the apiserver's own:\n got %.200s\nwant %.200s", i, l, b.want[i])
				}
				if b.want == nil && l != `{"apiVersion":"audit.k8s.io/v1",`+b.items[i][1:]+"\n" {
					t.Errorf("line %d: %.200s", i, l)
				}
			}
			golden := filepath.Join("testdata", b.golden)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("spooled bytes differ from %s (go test -update rewrites it)", golden)
			}
		})
	}
	s := e.r.Stats()
	if s.Batches != 4 || s.Events != uint64(len(batches[0].items)+len(v1.items)+len(v1beta1.items)+len(rewritten.items)) || s.Bytes != uint64(offset) {
		t.Errorf("stats %+v, spooled %d bytes", s, offset)
	}
	if s.LastAccepted.IsZero() {
		t.Error("LastAccepted not set")
	}
}

// TestItemContentNotJudged: an item that is an object but not a valid
// Event (Falco's fal_01_003.json, {"kind": 0}) is spooled as it is, beside
// the valid one: refusing the batch would have kube-apiserver drop both.
func TestItemContentNotJudged(t *testing.T) {
	e := start(t, withToken)
	c := e.newClient(clientOpts{})
	bad := sampleLines(t, "falco-k8s-audit-traces/fal_01_003.json")[0]
	rep := e.post(c, eventList(apiV1, `{"auditID":"a"}`, bad))
	if rep.status != http.StatusOK {
		t.Fatalf("answer %d %q", rep.status, rep.body)
	}
	want := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a"}` + "\n" + `{"apiVersion":"audit.k8s.io/v1","kind": 0}` + "\n"
	if got := e.mem.all(); len(got) != 1 || string(got[0]) != want {
		t.Errorf("spooled %q, want %q", got, want)
	}
}

// TestBatchShapes covers the items of TestSplit that matter most, end to
// end: raw newlines, {}, v1beta1, empty batches.
func TestBatchShapes(t *testing.T) {
	e := start(t, withToken)
	c := e.newClient(clientOpts{http2: true})
	for _, tc := range []struct {
		name  string
		body  string
		lines string // spooled; "" = no Append
		n     int
	}{
		{"pretty-printed item", "{\"items\":[{\n  \"auditID\": \"x\",\r\n  \"user\": {\"username\": \"a b\"}\n}]}",
			`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x","user":{"username":"a b"}}` + "\n", 1},
		{"empty object", `{"apiVersion":"audit.k8s.io/v1","items":[{},{ }]}`,
			`{"kind":"Event","apiVersion":"audit.k8s.io/v1"}` + "\n" + `{"kind":"Event","apiVersion":"audit.k8s.io/v1" }` + "\n", 2},
		{"v1beta1 list", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1","items":[{"level":"Metadata"}]}`,
			`{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","level":"Metadata"}` + "\n", 1},
		{"empty items", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[]}`, "", 0},
		{"null items", `{"kind":"EventList","items":null}`, "", 0},
		{"no items", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{}}`, "", 0},
		{"empty list", `{}`, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.mem.reset()
			rep := e.post(c, []byte(tc.body))
			if rep.status != http.StatusOK || rep.body != fmt.Sprintf(`{"accepted":%d}`+"\n", tc.n) {
				t.Fatalf("answer %d %q", rep.status, rep.body)
			}
			if rep.proto != "HTTP/2.0" {
				t.Errorf("protocol %s, want HTTP/2.0", rep.proto)
			}
			got := e.mem.all()
			switch {
			case tc.lines == "" && len(got) != 0:
				t.Errorf("an empty batch was appended: %q", got)
			case tc.lines != "" && (len(got) != 1 || string(got[0]) != tc.lines):
				t.Errorf("spooled %q, want %q", got, tc.lines)
			}
		})
	}
}

// TestAllOrNothing: a batch is one Append with all its lines, and a batch
// the spool refuses left nothing in it.
func TestAllOrNothing(t *testing.T) {
	e := start(t, withToken)
	c := e.newClient(clientOpts{})
	items := []string{`{"auditID":"1"}`, `{"auditID":"2"}`, `{"auditID":"3"}`}
	if rep := e.post(c, eventList(apiV1, items...)); rep.status != http.StatusOK {
		t.Fatalf("answer %d %q", rep.status, rep.body)
	}
	got := e.mem.all()
	if len(got) != 1 || bytes.Count(got[0], []byte("\n")) != 3 {
		t.Fatalf("appends %q, want one with three lines", got)
	}
	e.mem.setErr(errors.New("disk on fire"))
	if rep := e.post(c, eventList(apiV1, items...)); rep.status != http.StatusServiceUnavailable {
		t.Fatalf("answer %d %q", rep.status, rep.body)
	}
	if n := len(e.mem.all()); n != 1 {
		t.Errorf("%d appends kept, want only the first batch's", n)
	}
	s := e.r.Stats()
	if s.Batches != 1 || s.Events != 3 || s.Bytes != uint64(len(got[0])) {
		t.Errorf("stats %+v", s)
	}
}

// padded returns an EventList of exactly size bytes.
func padded(t *testing.T, size int) []byte {
	t.Helper()
	b := eventList(apiV1, `{"auditID":"pad","annotations":{"pad":""}}`)
	pad := size - len(b)
	if pad < 0 {
		t.Fatalf("size %d too small", size)
	}
	b = bytes.Replace(b, []byte(`"pad":""`), []byte(`"pad":"`+strings.Repeat("x", pad)+`"`), 1)
	if len(b) != size {
		t.Fatalf("padded to %d, want %d", len(b), size)
	}
	return b
}

// chunked hides a body's length, so that it is sent chunked.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestRefusals sends each kind of bad request and checks the status, the
// reason at the start of the answer, the counter of that reason (and of
// no other), and that nothing reached the spool.
func TestRefusals(t *testing.T) {
	const limit = MinMaxBodyBytes
	withCert := start(t, withCA)
	withTok := start(t, withToken, withRetryAfter(3*time.Second))
	both := start(t, withCA, withToken, withMaxBody(limit))

	other := newTestPKI(t, "other")
	otherClient := other.issue(t, "other-client", x509.ExtKeyUsageClientAuth, time.Time{}, time.Time{})
	expired := withCert.pki.issue(t, "expired-client", x509.ExtKeyUsageClientAuth, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	serverOnly := withCert.pki.issue(t, "server-only", x509.ExtKeyUsageServerAuth, time.Time{}, time.Time{})

	good := eventList(apiV1, `{"auditID":"1"}`)
	bearer := "Authorization: Bearer " + testToken
	ctJSON := "Content-Type: application/json"
	bothClient := both.newClient(clientOpts{cert: &both.client.Cert})

	type tc struct {
		name    string
		e       *env
		c       *http.Client
		method  string
		body    []byte
		chunked bool
		headers []string
		setup   func(e *env)
		status  int
		reason  string
		says    string // in the answer
		header  [2]string
	}
	cases := []tc{
		{name: "no client certificate", e: withCert, c: withCert.newClient(clientOpts{}), status: 401, reason: ReasonNoClientCert},
		{name: "client certificate of another CA", e: withCert, c: withCert.newClient(clientOpts{cert: &otherClient.Cert}),
			status: 403, reason: ReasonBadClientCert, says: "not signed by a CA"},
		{name: "expired client certificate", e: withCert, c: withCert.newClient(clientOpts{cert: &expired.Cert}),
			status: 403, reason: ReasonBadClientCert, says: "expired"},
		{name: "server-only certificate", e: withCert, c: withCert.newClient(clientOpts{cert: &serverOnly.Cert}),
			status: 403, reason: ReasonBadClientCert, says: "not for client authentication"},
		{name: "no token", e: withTok, headers: []string{ctJSON}, status: 401, reason: ReasonNoToken,
			header: [2]string{"WWW-Authenticate", `Bearer realm="audittail"`}},
		{name: "basic auth", e: withTok, headers: []string{ctJSON, "Authorization: Basic dXNlcjpwYXNz"}, status: 401, reason: ReasonNoToken},
		{name: "wrong token", e: withTok, headers: []string{ctJSON, "Authorization: Bearer " + testToken + "x"}, status: 403, reason: ReasonBadToken},
		{name: "token prefix", e: withTok, headers: []string{ctJSON, "Authorization: Bearer " + testToken[:20]}, status: 403, reason: ReasonBadToken},
		{name: "both: certificate only", e: both, headers: []string{ctJSON}, status: 401, reason: ReasonNoToken},
		{name: "both: token only", e: both, c: both.newClient(clientOpts{}), status: 401, reason: ReasonNoClientCert},
		{name: "both: bad certificate, good token", e: both, c: both.newClient(clientOpts{cert: &otherClient.Cert}), status: 403, reason: ReasonBadClientCert},
		{name: "GET", e: both, method: http.MethodGet, body: nil, status: 405, reason: ReasonMethod, header: [2]string{"Allow", "POST"}},
		{name: "PUT", e: both, method: http.MethodPut, status: 405, reason: ReasonMethod},
		{name: "text/plain", e: both, headers: []string{bearer, "Content-Type: text/plain"}, status: 415, reason: ReasonContentType, says: "sends JSON"},
		{name: "bad media type", e: both, headers: []string{bearer, "Content-Type: ;;"}, status: 415, reason: ReasonContentType},
		{name: "gzip", e: both, headers: []string{bearer, ctJSON, "Content-Encoding: gzip"}, status: 415, reason: ReasonContentType, says: "Content-Encoding"},
		{name: "identity, then gzip", e: both, headers: []string{bearer, ctJSON, "Content-Encoding: identity, gzip"}, status: 415, reason: ReasonContentType},
		{name: "too large by one", e: both, body: padded(t, limit+1), status: 413, reason: ReasonTooLarge, says: strconv.Itoa(limit) + " bytes"},
		{name: "too large by one, chunked", e: both, body: padded(t, limit+1), chunked: true, status: 413, reason: ReasonTooLarge},
		{name: "not JSON", e: both, body: []byte("hello"), status: 400, reason: ReasonBadBody, says: "invalid JSON at byte 0"},
		{name: "empty", e: both, body: []byte(""), status: 400, reason: ReasonBadBody, says: "empty"},
		{name: "not an object", e: both, body: []byte(`[{"auditID":"1"}]`), status: 400, reason: ReasonBadBody, says: "the body is an array, want an EventList"},
		{name: "kind Event", e: both, body: []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","items":[]}`),
			status: 400, reason: ReasonBadBody, says: `kind is "Event", want EventList`},
		{name: "apiVersion v2", e: both, body: []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v2","items":[{}]}`),
			status: 400, reason: ReasonBadBody, says: `apiVersion is "audit.k8s.io/v2", want audit.k8s.io/v1 or audit.k8s.io/v1beta1`},
		{name: "item not an object", e: both, body: eventList(apiV1, `{"auditID":"1"}`, `{"auditID":"2"}`, `"x"`),
			status: 400, reason: ReasonBadBody, says: "items[2] is a string, want an object"},
		{name: "items an object", e: both, body: []byte(`{"items":{"auditID":"1"}}`), status: 400, reason: ReasonBadBody, says: "items is an object, want an array"},
		{name: "truncated", e: both, body: good[:len(good)-5], status: 400, reason: ReasonBadBody, says: "unexpected end of the body"},
		{name: "trailing garbage", e: both, body: append(slices.Clip(good), "x"...), status: 400, reason: ReasonBadBody, says: "after the top-level value"},
		{name: "spool full", e: withTok, headers: []string{ctJSON, bearer}, setup: func(e *env) { e.mem.setErr(fmt.Errorf("append: %w", errFull)) },
			status: 429, reason: ReasonSpoolFull, says: "log server is behind", header: [2]string{"Retry-After", "3"}},
		{name: "spool error", e: withTok, headers: []string{ctJSON, bearer}, setup: func(e *env) { e.mem.setErr(errors.New("EIO")) },
			status: 503, reason: ReasonSpoolError, header: [2]string{"Retry-After", "3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := c.e
			if c.c == nil {
				c.c = bothClient
				if e != both {
					c.c = e.newClient(clientOpts{})
				}
			}
			if c.method == "" {
				c.method = http.MethodPost
			}
			if c.body == nil && c.method == http.MethodPost {
				c.body = good
			}
			if c.headers == nil {
				c.headers = []string{ctJSON, bearer}
			}
			if c.setup != nil {
				c.setup(e)
				defer e.mem.setErr(nil)
			}
			e.mem.reset()
			before := e.r.Stats()
			var rd io.Reader
			if c.body != nil {
				rd = bytes.NewReader(c.body)
				if c.chunked {
					rd = chunked{rd}
				}
			}
			req, err := http.NewRequest(c.method, e.url(), rd)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range c.headers {
				k, v, _ := strings.Cut(h, ": ")
				req.Header.Add(k, v)
			}
			resp, err := c.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.HasPrefix(string(body), c.reason+": ") || !strings.Contains(string(body), c.says) {
				t.Errorf("answer %d %q, want %d %q... %q", resp.StatusCode, body, c.status, c.reason, c.says)
			}
			if strings.Contains(string(body), testToken[:10]) {
				t.Errorf("the answer quotes the token: %q", body)
			}
			if c.header[0] != "" && resp.Header.Get(c.header[0]) != c.header[1] {
				t.Errorf("%s: %q, want %q", c.header[0], resp.Header.Get(c.header[0]), c.header[1])
			}
			after := e.r.Stats()
			for _, r := range Reasons() {
				want := before.Refused[r]
				if r == c.reason {
					want++
				}
				if after.Refused[r] != want {
					t.Errorf("refused[%s] = %d, want %d", r, after.Refused[r], want)
				}
			}
			if Status(c.reason) != c.status {
				t.Errorf("Status(%s) = %d", c.reason, Status(c.reason))
			}
			if after.Batches != before.Batches || after.Events != before.Events || len(e.mem.all()) != 0 {
				t.Errorf("a refused batch was spooled or counted: %+v, %d appends", after, len(e.mem.all()))
			}
		})
	}

	t.Run("exactly max_body_bytes", func(t *testing.T) {
		for _, ch := range []bool{false, true} {
			var rd io.Reader = bytes.NewReader(padded(t, limit))
			if ch {
				rd = chunked{rd}
			}
			req, _ := http.NewRequest(http.MethodPost, both.url(), rd)
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := bothClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("chunked %v: %d for a body of exactly the limit", ch, resp.StatusCode)
			}
		}
	})
}

// TestReasons: every reason has a status, and Stats lists them all.
func TestReasons(t *testing.T) {
	rs := Reasons()
	if len(rs) != int(numReasons) {
		t.Fatalf("%d reasons", len(rs))
	}
	var c counters
	s := c.snapshot()
	for _, r := range rs {
		if Status(r) < 400 {
			t.Errorf("%s: status %d", r, Status(r))
		}
		if v, ok := s.Refused[r]; !ok || v != 0 {
			t.Errorf("Refused[%s] = %d, %v", r, v, ok)
		}
	}
	rs[0] = "changed"
	if Reasons()[0] == "changed" {
		t.Error("Reasons returns the package's own slice")
	}
}

// TestClientCertVerifiedOncePerConnection: a keep-alive connection, over
// HTTP/1.1 and HTTP/2, verifies its certificate once; a Reload with
// another CA makes the next request on the same connection verify again,
// and fail.
func TestClientCertVerifiedOncePerConnection(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%v", h2), func(t *testing.T) {
			e := start(t, withCA)
			c := e.newClient(clientOpts{cert: &e.client.Cert, http2: h2})
			for range 3 {
				if rep := e.post(c, eventList(apiV1, `{}`)); rep.status != http.StatusOK {
					t.Fatalf("answer %d %q", rep.status, rep.body)
				}
			}
			if n := e.r.verifications.Load(); n != 1 {
				t.Errorf("%d verifications for three requests on one connection", n)
			}
			other := newTestPKI(t, "rotated")
			ca, err := os.ReadFile(other.CAFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(e.cfg.ClientCAFile, ca, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := e.r.Reload(); err != nil {
				t.Fatal(err)
			}
			if rep := e.post(c, eventList(apiV1, `{}`)); rep.status != http.StatusForbidden {
				t.Errorf("after the CA changed: %d %q", rep.status, rep.body)
			}
			if n := e.r.verifications.Load(); n != 2 {
				t.Errorf("%d verifications, want 2", n)
			}
		})
	}
}

// TestReload: a new token and certificate take effect; a bad file keeps
// the current ones.
func TestReload(t *testing.T) {
	e := start(t, withToken)
	c := e.newClient(clientOpts{})
	first := e.do(c, http.MethodPost, eventList(apiV1), "Authorization: Bearer "+testToken)
	if first.status != http.StatusOK {
		t.Fatalf("answer %d %q", first.status, first.body)
	}
	serial := first.tls.PeerCertificates[0].SerialNumber

	// A bad certificate file, then an empty token file: nothing changes.
	certPEM, _ := os.ReadFile(e.cfg.CertFile)
	writeFile(t, e.pki.dir, filepath.Base(e.cfg.CertFile), "")
	if err := e.r.Reload(); err == nil || !strings.Contains(err.Error(), e.cfg.CertFile) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("Reload with an empty certificate file: %v", err)
	}
	writeFile(t, e.pki.dir, filepath.Base(e.cfg.CertFile), string(certPEM))
	writeFile(t, e.pki.dir, "token", "\n")
	if err := e.r.Reload(); err == nil || !strings.Contains(err.Error(), e.tokenFile) {
		t.Errorf("Reload with an empty token file: %v", err)
	}
	fresh := e.newClient(clientOpts{})
	rep := e.do(fresh, http.MethodPost, eventList(apiV1), "Authorization: Bearer "+testToken)
	if rep.status != http.StatusOK || rep.tls.PeerCertificates[0].SerialNumber.Cmp(serial) != 0 {
		t.Fatalf("after failed reloads: %d %q", rep.status, rep.body)
	}

	// A new certificate and token.
	next := e.pki.issue(t, "server-next", x509.ExtKeyUsageServerAuth, time.Time{}, time.Time{})
	for _, f := range [][2]string{{next.CertFile, e.cfg.CertFile}, {next.KeyFile, e.cfg.KeyFile}} {
		data, _ := os.ReadFile(f[0])
		writeFile(t, e.pki.dir, filepath.Base(f[1]), string(data))
	}
	const newToken = "another-token-0123456789"
	writeFile(t, e.pki.dir, "token", newToken+"\n")
	if err := e.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if rep := e.do(c, http.MethodPost, eventList(apiV1), "Authorization: Bearer "+testToken); rep.status != http.StatusForbidden {
		t.Errorf("old token after reload: %d %q", rep.status, rep.body)
	}
	fresh = e.newClient(clientOpts{})
	rep = e.do(fresh, http.MethodPost, eventList(apiV1), "Authorization: Bearer "+newToken)
	if rep.status != http.StatusOK {
		t.Fatalf("new token: %d %q", rep.status, rep.body)
	}
	if got := rep.tls.PeerCertificates[0].SerialNumber; got.Cmp(next.Cert.Leaf.SerialNumber) != 0 {
		t.Errorf("a new connection got certificate %v, want the reloaded %v", got, next.Cert.Leaf.SerialNumber)
	}
	if strings.Contains(e.logs.String(), newToken) {
		t.Error("the new token appears in the log")
	}
}

// TestHandshakeErrorsCounted: plain HTTP to the TLS port fails the
// handshake; the server's error log counts it.
func TestHandshakeErrorsCounted(t *testing.T) {
	e := start(t, withToken)
	conn, err := net.Dial("tcp", e.r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
	status, err := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if err != nil || !strings.Contains(status, "400") {
		t.Fatalf("plain HTTP answered %q, %v", status, err)
	}
	// The server logs the handshake error after answering: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for e.r.Stats().HandshakeErrors == 0 {
		if time.Now().After(deadline) {
			t.Fatal("handshake error not counted")
		}
		time.Sleep(time.Millisecond)
	}
	if s := e.r.Stats(); s.HandshakeErrors != 1 {
		t.Errorf("%d handshake errors", s.HandshakeErrors)
	}
}

// TestShutdownWithAppendStuck: Run returns (nil) even when a spool Append
// does not, and no Append starts after it returned; the stuck request was
// not answered 200.
func TestShutdownWithAppendStuck(t *testing.T) {
	mem := &memAppender{block: make(chan struct{}), entered: make(chan struct{})}
	e := start(t, withToken, withAppender(mem), withGrace(50*time.Millisecond))
	c := e.newClient(clientOpts{})
	answered := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, e.url(), bytes.NewReader(eventList(apiV1, `{}`)))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := c.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	<-mem.entered
	if err := e.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := <-answered; got == http.StatusOK {
		t.Error("a batch stuck in Append at shutdown was answered 200")
	}
	close(mem.block)
	if err := e.r.append([]byte("{}\n")); err == nil {
		t.Error("an Append started after Run returned")
	}
	// Let the stuck handler finish before goleak looks.
	for {
		e.r.appends.mu.Lock()
		n := e.r.appends.n
		e.r.appends.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
}

// TestNewErrors: New fails on a busy port, a disabled config, a bad file,
// naming what is wrong; Close releases a listener Run never used.
func TestNewErrors(t *testing.T) {
	p := newTestPKI(t, "new")
	srv := p.issue(t, "server", x509.ExtKeyUsageServerAuth, time.Time{}, time.Time{})
	tok := writeFile(t, p.dir, "token", testToken)
	cfg := Config{Listen: "127.0.0.1:0", CertFile: srv.CertFile, KeyFile: srv.KeyFile, TokenFile: tok}
	log := zerolog.Nop()
	r, err := New(cfg, &memAppender{}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	busy := cfg
	busy.Listen = r.Addr()
	if _, err := New(busy, &memAppender{}, nil, log); err == nil || !strings.Contains(err.Error(), r.Addr()) {
		t.Errorf("busy port: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err == nil {
		t.Error("Run after Close succeeded")
	}
	off := cfg
	off.Listen = ""
	if _, err := New(off, &memAppender{}, nil, log); err == nil || !strings.Contains(err.Error(), "off") {
		t.Errorf("listen empty: %v", err)
	}
	missing := cfg
	missing.TokenFile = filepath.Join(p.dir, "nope")
	if _, err := New(missing, &memAppender{}, nil, log); err == nil || !strings.Contains(err.Error(), missing.TokenFile) {
		t.Errorf("missing token file: %v", err)
	}
	if _, err := New(cfg, nil, nil, log); err == nil {
		t.Error("New without a spool succeeded")
	}
}

// TestEvery: one log line per period, with the count of those held back.
func TestEvery(t *testing.T) {
	var e every
	t0 := time.Unix(1700000000, 0)
	for i, c := range []struct {
		at   time.Duration
		ok   bool
		held uint64
	}{
		{0, true, 0}, {time.Second, false, 0}, {29 * time.Second, false, 0},
		{30 * time.Second, true, 2}, {31 * time.Second, false, 0}, {2 * time.Minute, true, 1},
	} {
		ok, held := e.allow(t0.Add(c.at), 30*time.Second)
		if ok != c.ok || held != c.held {
			t.Errorf("%d: allow at %s = %v, %d; want %v, %d", i, c.at, ok, held, c.ok, c.held)
		}
	}
}

// TestAcceptedAnswerIsJSON: the 200 body decodes, for clients that look.
func TestAcceptedAnswerIsJSON(t *testing.T) {
	e := start(t, withToken)
	rep := e.post(e.newClient(clientOpts{}), eventList(apiV1, `{}`, `{}`))
	var v struct{ Accepted int }
	if err := json.Unmarshal([]byte(rep.body), &v); err != nil || v.Accepted != 2 || rep.header.Get("Content-Type") != "application/json" {
		t.Errorf("answer %q (%v), Content-Type %q", rep.body, err, rep.header.Get("Content-Type"))
	}
}

// TestReadError: a sender that stops in the middle of its body (here: it
// closes its side after a tenth of the announced length) is answered 400
// read_error, and nothing is spooled.
func TestReadError(t *testing.T) {
	e := start(t, withToken)
	conn, err := tls.Dial("tcp", e.r.Addr(), &tls.Config{RootCAs: e.pki.Pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /audit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{\"items\":[", testToken)
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(string(body), ReasonReadError+": ") {
		t.Errorf("answer %d %q", resp.StatusCode, body)
	}
	if s := e.r.Stats(); s.Refused[ReasonReadError] != 1 || len(e.mem.all()) != 0 {
		t.Errorf("stats %+v, %d appends", s, len(e.mem.all()))
	}
}

func TestContentType(t *testing.T) {
	for _, c := range []struct {
		headers []string
		ok      bool
	}{
		{nil, true},
		{[]string{"Content-Type: application/json"}, true},
		{[]string{"Content-Type: application/json; charset=utf-8"}, true},
		{[]string{"Content-Type: Application/JSON"}, true},
		{[]string{"Content-Type: application/json", "Content-Encoding: identity"}, true},
		{[]string{"Content-Type: application/yaml"}, false},
		{[]string{"Content-Type: application/vnd.kubernetes.protobuf"}, false},
		{[]string{"Content-Type: application/json;;"}, false},
		{[]string{"Content-Encoding: br"}, false},
		{[]string{"Content-Encoding: identity", "Content-Encoding: gzip"}, false},
	} {
		h := http.Header{}
		for _, kv := range c.headers {
			k, v, _ := strings.Cut(kv, ": ")
			h.Add(k, v)
		}
		if got := contentTypeProblem(h); (got == "") != c.ok {
			t.Errorf("%q: %q", c.headers, got)
		}
	}
}
