package gelftest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

type reply struct {
	status int
	header http.Header
	body   string
}

// post sends body to url with the given header pairs (name, value, ...).
func post(t *testing.T, c *http.Client, url string, body []byte, header ...string) reply {
	t.Helper()
	r, err := doPost(c, url, body, header...)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return r
}

func doPost(c *http.Client, url string, body []byte, header ...string) (reply, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{resp.StatusCode, resp.Header, string(b)}, nil
}

func httpClient(t *testing.T, cfg *tls.Config) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: wait}
}

func wantStatus(t *testing.T, r reply, status int) {
	t.Helper()
	if r.status != status || r.body != "" {
		t.Fatalf("status %d, body %q; want %d with an empty body", r.status, r.body, status)
	}
}

func wantMap[K comparable](t *testing.T, what string, got, want map[K]int) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func rawDeflate(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHTTPEncodings(t *testing.T) {
	s := NewHTTPServer(t, HTTPOptions{})
	if s.URL() != "http://"+s.Addr()+"/gelf" {
		t.Fatalf("URL %q", s.URL())
	}
	c := httpClient(t, nil)
	wantStatus(t, post(t, c, s.URL(), gzipBytes(t, []byte(`{"short_message":"gzip"}`+"\n")), "Content-Encoding", "gzip"), http.StatusAccepted)
	wantStatus(t, post(t, c, s.URL(), zlibBytes(t, []byte(`{"short_message":"deflate"}`)), "Content-Encoding", "deflate"), http.StatusAccepted)
	wantStatus(t, post(t, c, s.URL(), rawDeflate(t, []byte(`{"short_message":"raw deflate"}`)), "Content-Encoding", "deflate"), http.StatusAccepted)
	wantStatus(t, post(t, c, s.URL(), gzipBytes(t, []byte(`{"short_message":"sniffed gzip"}`))), http.StatusAccepted)
	wantStatus(t, post(t, c, s.URL(), zlibBytes(t, []byte(`{"short_message":"sniffed zlib"}`))), http.StatusAccepted)
	wantStatus(t, post(t, c, s.URL(), []byte(`{"short_message":"plain"}`+"\r\n")), http.StatusAccepted)
	wantStatus(t, post(t, c, s.URL(), []byte("not gzip"), "Content-Encoding", "gzip"), http.StatusBadRequest)
	wantStrings(t, "messages", s.Messages(),
		`{"short_message":"gzip"}`, `{"short_message":"deflate"}`, `{"short_message":"raw deflate"}`,
		`{"short_message":"sniffed gzip"}`, `{"short_message":"sniffed zlib"}`, `{"short_message":"plain"}`)
	wantMap(t, "encodings", s.Encodings(), map[string]int{"gzip": 2, "deflate": 2, "raw-gzip": 1, "raw-zlib": 1, "identity": 1})
	wantMap(t, "statuses", s.Statuses(), map[int]int{202: 6, 400: 1})
	if inv := s.Invalid(); len(inv) != 1 || inv[0] != "gzip body: unexpected EOF" {
		t.Errorf("invalid %q", inv)
	}
	if s.Count() != 6 || s.Requests() != 7 || s.MaxMessagesPerRequest() != 1 || s.Connections() != 1 {
		t.Errorf("count %d, requests %d, max per request %d, connections %d (keep-alive)",
			s.Count(), s.Requests(), s.MaxMessagesPerRequest(), s.Connections())
	}
}

func TestHTTPOneMessagePerBody(t *testing.T) {
	s := NewHTTPServer(t, HTTPOptions{})
	c := httpClient(t, nil)
	for _, body := range []string{`{"a":1}` + "\n" + `{"a":2}` + "\n", `[{"a":1}]`, "", " \n", `{"a":`, `"text"`, `{"a":1} `} {
		wantStatus(t, post(t, c, s.URL(), []byte(body)), http.StatusAccepted)
	}
	wantStrings(t, "messages", s.Messages(), `{"a":1}`)
	want := []string{`{"a":1}` + "\n" + `{"a":2}`, `[{"a":1}]`, "", "", `{"a":`, `"text"`}
	if inv := s.Invalid(); !reflect.DeepEqual(inv, want) {
		t.Errorf("invalid %q, want %q", inv, want)
	}
	wantMap(t, "statuses", s.Statuses(), map[int]int{202: 7})
}

func TestHTTPBulk(t *testing.T) {
	s := NewHTTPServer(t, HTTPOptions{Bulk: true})
	c := httpClient(t, nil)
	body := `{"n":1}` + "\n\n" + `{"n":2}` + "\r\n" + `{"n":3}` + "\n"
	wantStatus(t, post(t, c, s.URL(), gzipBytes(t, []byte(body)), "Content-Encoding", "gzip"), http.StatusAccepted)
	wantStatus(t, post(t, c, s.URL(), []byte(`{"n":4}`+"\nnot json\n")), http.StatusAccepted)
	wantStrings(t, "messages", s.WaitForCount(t, 4, wait), `{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`)
	if s.MaxMessagesPerRequest() != 3 {
		t.Errorf("max messages per request %d, want 3", s.MaxMessagesPerRequest())
	}
	if inv := s.Invalid(); len(inv) != 1 || inv[0] != "not json" {
		t.Errorf("invalid %q", inv)
	}
}

func TestHTTPBodyLimit(t *testing.T) {
	s := NewHTTPServer(t, HTTPOptions{MaxBodyBytes: 100})
	c := httpClient(t, nil)
	body := func(n int) []byte { // a JSON object of n bytes
		return []byte(`{"m":"` + strings.Repeat("x", n-len(`{"m":""}`)) + `"}`)
	}
	wantStatus(t, post(t, c, s.URL(), body(100)), http.StatusAccepted)
	wantStatus(t, post(t, c, s.URL(), body(101)), http.StatusRequestEntityTooLarge)
	// The limit applies to the decompressed body: these are small on the
	// wire.
	if n := len(gzipBytes(t, body(101))); n > 100 {
		t.Fatalf("compressed body is %d bytes", n)
	}
	wantStatus(t, post(t, c, s.URL(), gzipBytes(t, body(101)), "Content-Encoding", "gzip"), http.StatusRequestEntityTooLarge)
	wantStatus(t, post(t, c, s.URL(), zlibBytes(t, body(101))), http.StatusRequestEntityTooLarge)
	wantStatus(t, post(t, c, s.URL(), gzipBytes(t, body(100)), "Content-Encoding", "gzip"), http.StatusAccepted)
	wantStrings(t, "messages", s.Messages(), string(body(100)), string(body(100)))
	wantMap(t, "statuses", s.Statuses(), map[int]int{202: 2, 413: 3})
	if inv := s.Invalid(); len(inv) != 0 {
		t.Errorf("invalid %q", inv)
	}
}

func TestHTTPMethodPathAuth(t *testing.T) {
	s := NewHTTPServer(t, HTTPOptions{AuthHeader: "X-Token", AuthValue: "s3cret"})
	c := httpClient(t, nil)
	resp, err := c.Get(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", resp.StatusCode)
	}
	msg := []byte(`{"short_message":"m"}`)
	wantStatus(t, post(t, c, "http://"+s.Addr()+"/other", msg, "X-Token", "s3cret"), http.StatusNotFound)
	wantStatus(t, post(t, c, s.URL(), msg), http.StatusUnauthorized)
	wantStatus(t, post(t, c, s.URL(), msg, "X-Token", "wrong"), http.StatusUnauthorized)
	wantStatus(t, post(t, c, s.URL(), msg, "X-Token", "s3cret"), http.StatusAccepted)
	wantStrings(t, "messages", s.Messages(), string(msg))
	wantMap(t, "statuses", s.Statuses(), map[int]int{405: 1, 404: 1, 401: 2, 202: 1})
	wantMap(t, "encodings", s.Encodings(), map[string]int{"identity": 1})
	if s.Requests() != 5 {
		t.Errorf("requests %d, want 5", s.Requests())
	}
}

func TestHTTPFailNext(t *testing.T) {
	s := NewHTTPServer(t, HTTPOptions{})
	c := httpClient(t, nil)
	s.FailNext(2, http.StatusServiceUnavailable, "7")
	for i := 1; i <= 2; i++ {
		r := post(t, c, s.URL(), []byte(fmt.Sprintf(`{"n":%d}`, i)))
		wantStatus(t, r, http.StatusServiceUnavailable)
		if got := r.header.Get("Retry-After"); got != "7" {
			t.Errorf("Retry-After %q, want 7", got)
		}
	}
	wantStatus(t, post(t, c, s.URL(), []byte(`{"n":3}`)), http.StatusAccepted)
	s.FailNext(1, http.StatusTooManyRequests, "")
	r := post(t, c, s.URL(), []byte(`{"n":4}`))
	wantStatus(t, r, http.StatusTooManyRequests)
	if _, ok := r.header["Retry-After"]; ok {
		t.Error("Retry-After sent without being asked for")
	}
	wantStatus(t, post(t, c, s.URL(), []byte(`{"n":5}`)), http.StatusAccepted)
	wantStrings(t, "messages", s.Messages(), `{"n":3}`, `{"n":5}`)
	wantMap(t, "statuses", s.Statuses(), map[int]int{503: 2, 429: 1, 202: 2})
	if s.Requests() != 5 {
		t.Errorf("requests %d, want 5", s.Requests())
	}
}

func TestHTTPCountOnly(t *testing.T) {
	s := NewHTTPServer(t, HTTPOptions{Bulk: true, CountOnly: true})
	c := httpClient(t, nil)
	wantStatus(t, post(t, c, s.URL(), []byte("{}\n{}\nx\n")), http.StatusAccepted)
	if got := s.WaitForCount(t, 2, wait); len(got) != 0 || s.Count() != 2 || len(s.Invalid()) != 1 {
		t.Fatalf("messages %q, count %d, invalid %q", got, s.Count(), s.Invalid())
	}
}

func TestHTTPSKeepAlive(t *testing.T) {
	pki := NewPKI(t)
	s := NewHTTPServer(t, HTTPOptions{TLS: pki.ServerTLS(tls.NoClientCert)})
	if s.URL() != "https://"+s.Addr()+"/gelf" {
		t.Fatalf("URL %q", s.URL())
	}
	c := httpClient(t, &tls.Config{RootCAs: pki.CAPool, MinVersion: tls.VersionTLS12})
	for i := 1; i <= 3; i++ {
		req, _ := http.NewRequest(http.MethodPost, s.URL(), strings.NewReader(fmt.Sprintf(`{"n":%d}`, i)))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || resp.TLS == nil || resp.ProtoMajor != 1 {
			t.Fatalf("status %d, TLS %v, proto %s", resp.StatusCode, resp.TLS != nil, resp.Proto)
		}
	}
	wantStrings(t, "messages", s.Messages(), `{"n":1}`, `{"n":2}`, `{"n":3}`)
	if s.Connections() != 1 {
		t.Errorf("%d connections for 3 keep-alive requests, want 1", s.Connections())
	}
	if e := s.HandshakeErrors(); len(e) != 0 {
		t.Errorf("handshake errors %q", e)
	}
	// A client that does not trust the CA fails, and the server sees it.
	if _, err := doPost(httpClient(t, &tls.Config{MinVersion: tls.VersionTLS12}), s.URL(), []byte(`{}`)); err == nil {
		t.Fatal("a client without the CA got through")
	}
	s.waitFor(t, wait, "a handshake error", func() bool { return len(s.hsErrs) > 0 })
	// Go clients answer an unknown authority with a bad_certificate alert.
	if e, want := s.HandshakeErrors(), []string{"remote error: tls: bad certificate"}; !reflect.DeepEqual(e, want) {
		t.Errorf("handshake errors %q, want %q", e, want)
	}
}

func TestHTTPSMutualTLS(t *testing.T) {
	pki := NewPKI(t)
	s := NewHTTPServer(t, HTTPOptions{TLS: pki.ServerTLS(tls.RequireAndVerifyClientCert)})
	_, err := doPost(httpClient(t, &tls.Config{RootCAs: pki.CAPool, MinVersion: tls.VersionTLS12}), s.URL(), []byte(`{"n":0}`))
	if err == nil {
		t.Fatal("a client without a certificate got through")
	}
	s.waitFor(t, wait, "a handshake error", func() bool { return len(s.hsErrs) > 0 })
	want := []string{"tls: client didn't provide a certificate"}
	if e := s.HandshakeErrors(); !reflect.DeepEqual(e, want) {
		t.Errorf("handshake errors %q, want %q", e, want)
	}
	c := httpClient(t, &tls.Config{RootCAs: pki.CAPool, Certificates: []tls.Certificate{pki.ClientCert}, MinVersion: tls.VersionTLS12})
	wantStatus(t, post(t, c, s.URL(), []byte(`{"n":1}`)), http.StatusAccepted)
	wantStrings(t, "messages", s.Messages(), `{"n":1}`)
	if s.Requests() != 1 {
		t.Errorf("requests %d, want 1", s.Requests())
	}
}

// rawRequest writes a POST /gelf with body on c and reads the response.
func rawRequest(t *testing.T, c net.Conn, br *bufio.Reader, body string) *http.Response {
	t.Helper()
	if _, err := fmt.Fprintf(c, "POST /gelf HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp
}

func TestHTTPStopRestart(t *testing.T) {
	s := NewHTTPServer(t, HTTPOptions{})
	addr := s.Addr()
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	ibr := bufio.NewReader(idle)
	if resp := rawRequest(t, idle, ibr, `{"n":1}`); resp.StatusCode != http.StatusAccepted || resp.Close {
		t.Fatalf("status %d, close %v", resp.StatusCode, resp.Close)
	}
	// A request in progress: headers and part of the body.
	active, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer active.Close()
	if _, err := io.WriteString(active, "POST /gelf HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"n\":"); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, wait, "2 requests", func() bool { return s.requests >= 2 })

	s.Stop()
	_ = idle.SetReadDeadline(time.Now().Add(wait))
	if n, err := ibr.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle connection after Stop: read %d bytes, %v; want it closed", n, err)
	}
	_ = active.SetReadDeadline(time.Now().Add(wait))
	if b, err := io.ReadAll(active); len(b) != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("active connection after Stop: read %q, %v; want it closed without a response", b, err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("a stopped server accepted a connection")
	}

	s.Restart(t)
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	wantStatus(t, post(t, httpClient(t, nil), s.URL(), []byte(`{"n":2}`)), http.StatusAccepted)
	wantStrings(t, "messages", s.Messages(), `{"n":1}`, `{"n":2}`)
	wantMap(t, "statuses", s.Statuses(), map[int]int{202: 2})
	if s.Requests() != 3 || s.Connections() != 3 {
		t.Errorf("requests %d, connections %d; want 3, 3", s.Requests(), s.Connections())
	}
}

// The PKI variants fail verification for the expected reason, with a
// crypto/tls client that trusts the CA.

func tlsDialErr(t *testing.T, cfg *tls.Config, serverName string, p *PKI) error {
	t.Helper()
	s := NewHTTPServer(t, HTTPOptions{TLS: cfg})
	c, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: p.CAPool, ServerName: serverName, MinVersion: tls.VersionTLS12})
	if err == nil {
		_ = c.Close()
	}
	return err
}

func TestPKIExpiredServerTLS(t *testing.T) {
	p := NewPKI(t)
	cfg := p.ExpiredServerTLS()
	if cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.NoClientCert {
		t.Fatalf("min version %x, client auth %v", cfg.MinVersion, cfg.ClientAuth)
	}
	for _, name := range []string{"127.0.0.1", "localhost"} {
		err := tlsDialErr(t, cfg, name, p)
		var inv x509.CertificateInvalidError
		if !errors.As(err, &inv) || inv.Reason != x509.Expired {
			t.Fatalf("dial %s: %v (%T); want an x509.CertificateInvalidError with Reason Expired", name, err, err)
		}
		if inv.Cert.IsCA || !inv.Cert.NotAfter.Before(time.Now()) {
			t.Errorf("the expired certificate is %q, not after %v", inv.Cert.Subject, inv.Cert.NotAfter)
		}
	}
	// Control: the same client setup accepts p's good certificate.
	if err := tlsDialErr(t, p.ServerTLS(tls.NoClientCert), "127.0.0.1", p); err != nil {
		t.Fatalf("control: %v", err)
	}
}

func TestPKIWrongHostServerTLS(t *testing.T) {
	p := NewPKI(t)
	cfg := p.WrongHostServerTLS()
	if cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.NoClientCert {
		t.Fatalf("min version %x, client auth %v", cfg.MinVersion, cfg.ClientAuth)
	}
	for _, name := range []string{"127.0.0.1", "localhost"} {
		err := tlsDialErr(t, cfg, name, p)
		var host x509.HostnameError
		if !errors.As(err, &host) || host.Host != name {
			t.Fatalf("dial %s: %v (%T); want an x509.HostnameError for %s", name, err, err, name)
		}
	}
	// The certificate is otherwise good: it verifies for its own name.
	if err := tlsDialErr(t, cfg, "wrong.example", p); err != nil {
		t.Fatalf("dial wrong.example: %v", err)
	}
	// And only p's CA signed it.
	var unknown x509.UnknownAuthorityError
	if err := tlsDialErr(t, cfg, "wrong.example", NewPKI(t)); !errors.As(err, &unknown) {
		t.Fatalf("dial with another CA: %v; want x509.UnknownAuthorityError", err)
	}
}
