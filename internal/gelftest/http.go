package gelftest

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultMaxBodyBytes is the default HTTPOptions.MaxBodyBytes: Graylog's
// max_chunk_size for HTTP inputs, 64 KiB.
const DefaultMaxBodyBytes = 64 << 10

// HTTPOptions configures an HTTPServer. The zero value is a plain HTTP
// server on a free port of 127.0.0.1 taking one message per request.
type HTTPOptions struct {
	// TLS, when set, makes the server speak HTTPS with this configuration
	// (see PKI.ServerTLS). Only HTTP/1.1 is offered, as by Graylog.
	TLS *tls.Config
	// Addr is the address to listen on; default "127.0.0.1:0" (a free
	// port). Set it to another server's Addr to replace that server.
	Addr string
	// Bulk is Graylog's enable_bulk_receiving: a body holds
	// newline-delimited messages. Otherwise the whole body is one message.
	Bulk bool
	// MaxBodyBytes bounds the decompressed body; a larger one is answered
	// 413 and nothing of it is recorded. Default DefaultMaxBodyBytes.
	MaxBodyBytes int
	// AuthHeader and AuthValue, when AuthHeader != "", make the server
	// answer 401 to requests whose AuthHeader is not exactly AuthValue.
	AuthHeader, AuthValue string
	// CountOnly makes the server count valid messages without keeping them
	// (Messages returns nothing; Count still counts), for benchmarks.
	CountOnly bool
}

// HTTPServer is a GELF HTTP(S) input for tests, as Graylog's: POST /gelf
// only (405 for other methods, 404 for other paths), optional auth header
// (401), the body decoded per Content-Encoding gzip or deflate or, without
// one, by its gzip or zlib magic bytes, 413 when the decompressed body is
// larger than MaxBodyBytes, otherwise 202 Accepted with an empty body,
// even for a body that is not valid GELF JSON (Graylog answers before it
// decodes; such bodies are recorded in Invalid). Keep-alive works, HTTP/2
// is not offered.
//
// Its methods are safe for concurrent use; the ones taking a testing.TB
// must be called from the test goroutine. A request's messages, counters
// and Invalid entries are recorded before its response is written.
type HTTPServer struct {
	opts    HTTPOptions
	maxBody int
	addr    string

	inbox               // the valid messages; its mu guards the fields below too
	cond      sync.Cond // active went down
	srv       *http.Server
	gen       *httpGen      // of srv
	served    chan struct{} // closed when srv.Serve returned
	listening bool
	closed    bool
	active    int // handlers running
	requests  int
	conns     int
	statuses  map[int]int
	invalid   []string
	encodings map[string]int
	maxPerReq int
	hsErrs    []string
	failN     int
	failCode  int
	failRetry string
}

// httpGen is one listen..Stop period; its handler ignores requests once it
// is stopped, even after a Restart.
type httpGen struct{ stopped bool } // under HTTPServer.mu

// NewHTTPServer starts a GELF HTTP (or HTTPS) server on 127.0.0.1, on a
// free port unless opts.Addr says otherwise. It is stopped by t.Cleanup.
func NewHTTPServer(t testing.TB, opts HTTPOptions) *HTTPServer {
	t.Helper()
	s := &HTTPServer{
		opts:      opts,
		maxBody:   opts.MaxBodyBytes,
		statuses:  map[int]int{},
		encodings: map[string]int{},
	}
	s.setup(opts.CountOnly, s.reportLocked)
	s.cond.L = &s.mu
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	start(t, opts.Addr, s.listen, s.Close)
	return s
}

// Addr returns the listening address, host:port. It does not change across
// Stop and Restart.
func (s *HTTPServer) Addr() string { return s.addr }

// URL returns the GELF endpoint: http://ADDR/gelf or https://ADDR/gelf.
func (s *HTTPServer) URL() string {
	if s.opts.TLS != nil {
		return "https://" + s.addr + "/gelf"
	}
	return "http://" + s.addr + "/gelf"
}

func (s *HTTPServer) listen(addr string) error {
	ln, err := bind(addr, func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) })
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	gen := &httpGen{}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveHTTP(gen, w, r) }),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second, // Graylog's idle writer timeout
		// OPTIONS * reaches the handler too (405, as any non-POST).
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     log.New(httpErrorLog{s}, "", 0),
		TLSNextProto:                 map[string]func(*http.Server, *tls.Conn, http.Handler){}, // no HTTP/2
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.mu.Lock()
				s.conns++
				s.signalLocked()
				s.mu.Unlock()
			}
		},
	}
	if s.opts.TLS != nil {
		cfg := s.opts.TLS.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		ln = tls.NewListener(ln, cfg)
	}
	served := make(chan struct{})
	s.mu.Lock()
	s.srv = srv
	s.gen = gen
	s.served = served
	s.addr = ln.Addr().String()
	s.listening = true
	s.mu.Unlock()
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	return nil
}

// httpErrorLog receives http.Server's error log and keeps the TLS
// handshake errors.
type httpErrorLog struct{ s *HTTPServer }

func (l httpErrorLog) Write(p []byte) (int, error) {
	const prefix = "http: TLS handshake error from "
	line := strings.TrimSpace(string(p))
	if rest, ok := strings.CutPrefix(line, prefix); ok {
		// rest is "ADDR: ERROR"; keep ERROR, as Server.HandshakeErrors.
		if i := strings.Index(rest, ": "); i >= 0 {
			rest = rest[i+2:]
		}
		l.s.mu.Lock()
		l.s.hsErrs = append(l.s.hsErrs, rest)
		l.s.signalLocked()
		l.s.mu.Unlock()
	}
	return len(p), nil
}

func (s *HTTPServer) serveHTTP(gen *httpGen, w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if gen.stopped {
		// Stop is closing this connection: no response at all.
		s.mu.Unlock()
		panic(http.ErrAbortHandler)
	}
	s.active++
	s.requests++
	s.signalLocked()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active--
		s.cond.Broadcast()
		s.mu.Unlock()
	}()

	switch {
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		s.respond(w, http.StatusMethodNotAllowed, "")
		return
	case r.URL.Path != "/gelf":
		s.respond(w, http.StatusNotFound, "")
		return
	}
	s.mu.Lock()
	fail := s.failN > 0
	code, retry := s.failCode, s.failRetry
	if fail {
		s.failN--
	}
	s.mu.Unlock()
	if fail {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, int64(s.maxBody)*2))
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		s.respond(w, code, "")
		return
	}
	if s.opts.AuthHeader != "" && r.Header.Get(s.opts.AuthHeader) != s.opts.AuthValue {
		s.respond(w, http.StatusUnauthorized, "")
		return
	}

	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch enc {
	case "", "identity":
		enc = "identity"
	case "x-gzip":
		enc = "gzip"
	case "x-deflate":
		enc = "deflate"
	}
	// Deflate cannot grow data by more than a few bytes per 16 KiB block:
	// a compressed body whose content fits is below this bound.
	rawLimit := s.maxBody
	if enc != "identity" {
		rawLimit += s.maxBody/64 + 1024
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, int64(rawLimit)+1))
	if err != nil {
		return // the client or Stop closed the connection
	}
	if len(raw) > rawLimit {
		s.respond(w, http.StatusRequestEntityTooLarge, enc)
		return
	}
	var body []byte
	switch enc {
	case "gzip", "deflate":
		body, err = decompress(enc, raw, s.maxBody)
	case "identity":
		// Graylog also recognises a compressed body by its magic bytes.
		switch sniffEncoding(raw) {
		case "gzip":
			enc = "raw-gzip"
			body, err = decompress("gzip", raw, s.maxBody)
		case "zlib":
			enc = "raw-zlib"
			body, err = decompress("zlib", raw, s.maxBody)
		default:
			body = raw
		}
	default: // Netty passes unknown encodings through undecoded
		body = raw
	}
	var tooLarge errTooLarge
	switch {
	case errors.As(err, &tooLarge):
		s.respond(w, http.StatusRequestEntityTooLarge, enc)
		return
	case err != nil:
		s.mu.Lock()
		s.invalid = append(s.invalid, fmt.Sprintf("%s body: %v", enc, err))
		s.mu.Unlock()
		s.respond(w, http.StatusBadRequest, enc)
		return
	}

	var msgs [][]byte
	if s.opts.Bulk {
		for line := range bytes.SplitSeq(body, []byte("\n")) {
			if line = bytes.TrimSpace(line); len(line) > 0 {
				msgs = append(msgs, line)
			}
		}
	} else {
		msgs = [][]byte{bytes.TrimRight(body, " \t\r\n")}
	}
	s.mu.Lock()
	s.maxPerReq = max(s.maxPerReq, len(msgs))
	for _, m := range msgs {
		if !isJSONObject(m) {
			s.invalid = append(s.invalid, string(m))
			continue
		}
		s.recordLocked(m) // a slice of this request's own body
	}
	s.mu.Unlock()
	s.respond(w, http.StatusAccepted, enc)
}

// isJSONObject reports whether b is exactly one JSON object (surrounding
// white space allowed).
func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// respond records and sends an empty response with code; enc, when not
// "", is counted in Encodings.
func (s *HTTPServer) respond(w http.ResponseWriter, code int, enc string) {
	s.mu.Lock()
	s.statuses[code]++
	if enc != "" {
		s.encodings[enc]++
	}
	s.signalLocked()
	s.mu.Unlock()
	w.WriteHeader(code)
}

// reportLocked says what the server got, for a wait that timed out.
func (s *HTTPServer) reportLocked() string {
	return fmt.Sprintf("got %d messages from %d requests, statuses %v, invalid %q, handshake errors %q",
		s.countLocked(), s.requests, s.statuses, s.invalid, s.hsErrs)
}

// Messages returns a copy of every valid message received so far (a
// single JSON object, trailing white space trimmed), in the order their
// requests were handled; a bulk request's messages stay in body order.
func (s *HTTPServer) Messages() [][]byte { return s.messages() }

// Count returns the number of valid messages received so far (those
// Messages returns, or counted ones with CountOnly).
func (s *HTTPServer) Count() int { return s.count() }

// Requests returns how many requests reached the handler, whatever the
// method, path or answer.
func (s *HTTPServer) Requests() int {
	return locked(&s.inbox, func() int { return s.requests })
}

// Connections returns how many connections were accepted (TCP, before any
// TLS handshake). With keep-alive, many requests share one.
func (s *HTTPServer) Connections() int {
	return locked(&s.inbox, func() int { return s.conns })
}

// Statuses returns how many responses the handler sent per status code (a
// fresh map). Errors net/http answers by itself (malformed requests) are
// not included.
func (s *HTTPServer) Statuses() map[int]int {
	return locked(&s.inbox, func() map[int]int { return maps.Clone(s.statuses) })
}

// Invalid returns what was accepted but is not GELF JSON: each body (or,
// in Bulk mode, each non-empty line) that is not a single JSON object,
// trimmed, as text (an empty body gives ""). Graylog answers those 202 and
// drops them at decoding. A compressed body that fails to decompress is
// answered 400 and recorded here as "ENC body: ERROR" (ENC as in
// Encodings).
func (s *HTTPServer) Invalid() []string {
	return locked(&s.inbox, func() []string { return append([]string(nil), s.invalid...) })
}

// Encodings returns how many POST /gelf requests that passed FailNext and
// authentication used each body encoding (a fresh map): their
// Content-Encoding, "gzip", "deflate" or another value as sent (lower
// case), "identity" when absent, or "raw-gzip" / "raw-zlib" for a body
// without Content-Encoding that the server recognised as compressed by its
// magic bytes.
func (s *HTTPServer) Encodings() map[string]int {
	return locked(&s.inbox, func() map[string]int { return maps.Clone(s.encodings) })
}

// MaxMessagesPerRequest returns the largest number of messages (valid or
// not; empty bulk lines excluded) that one accepted request carried.
func (s *HTTPServer) MaxMessagesPerRequest() int {
	return locked(&s.inbox, func() int { return s.maxPerReq })
}

// HandshakeErrors returns the TLS handshake errors seen so far (as the
// server-side crypto/tls error text, e.g. "tls: client didn't provide a
// certificate"). They are recorded after the client saw the handshake
// fail, so wait for them.
func (s *HTTPServer) HandshakeErrors() []string {
	return locked(&s.inbox, func() []string { return append([]string(nil), s.hsErrs...) })
}

// FailNext makes the server answer the next n POST requests to /gelf
// (before authentication) with status and, when retryAfter != "", a
// Retry-After header with that value. Their bodies are read and
// discarded: nothing of them is recorded except in Requests and
// Statuses. A later call replaces an earlier one's remaining count.
func (s *HTTPServer) FailNext(n int, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode, s.failRetry = n, status, retryAfter
}

// WaitForCount waits until at least n valid messages arrived (Count >= n)
// and returns them (as Messages does). It fails the test after timeout,
// saying what it got.
func (s *HTTPServer) WaitForCount(t testing.TB, n int, timeout time.Duration) [][]byte {
	t.Helper()
	return s.waitForCount(t, n, timeout, "messages")
}

// Stop takes the server down: it closes the listener, so new connections
// are refused, and closes every connection, idle or active (a request in
// progress gets no response). It returns once every handler returned, so
// Messages is final.
func (s *HTTPServer) Stop() {
	s.mu.Lock()
	if !s.listening {
		s.mu.Unlock()
		return
	}
	s.listening = false
	s.gen.stopped = true
	srv, served := s.srv, s.served
	s.mu.Unlock()
	_ = srv.Close()
	<-served
	s.mu.Lock()
	for s.active > 0 {
		s.cond.Wait()
	}
	s.signalLocked()
	s.mu.Unlock()
}

// Restart brings a stopped server back on the same address. Everything
// recorded before is kept.
func (s *HTTPServer) Restart(t testing.TB) {
	t.Helper()
	if locked(&s.inbox, func() bool { return s.listening || s.closed }) {
		t.Fatalf("gelftest: Restart of an HTTP server that is up or closed")
	}
	relisten(t, s.listen, s.addr)
}

// Close stops the server for good. NewHTTPServer registers it with
// t.Cleanup.
func (s *HTTPServer) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.Stop()
}
