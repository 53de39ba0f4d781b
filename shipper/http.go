package shipper

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// GELF HTTP (Graylog documentation, "GELF via HTTP"): POST to the input's path (/gelf),
// the body one GELF message, or with Graylog's bulk receiving on, several
// messages separated by newlines; gzip through Content-Encoding. The input
// answers 202 Accepted once it has the whole body, which is the one
// per-request acknowledgement GELF offers: a 2xx confirms every message of
// the request, and moves the checkpoint past them. Anything else is retried
// with backoff, never dropped: a request the server keeps refusing (wrong
// path, missing authorization header, body over the input's max_chunk_size)
// stops shipping, which the log (an error naming the status and the setting
// to check), Stats.LastError and the readiness check make visible, while
// the events wait in the audit log.

// Bounds of the HTTP client.
const (
	httpIdleTimeout  = 50 * time.Second // below Graylog's 60 s idle timeout, so the client closes first
	httpBodySnippet  = 512              // bytes of an error response read for the error
	httpBodyQuoted   = 200              // at most this much of it is quoted: a secret (128 bytes at most) that the read cut in half lies beyond it
	httpDrainLimit   = 64 << 10         // bytes of a response read to reuse the connection
	maxRetryAfter    = 5 * time.Minute  // cap of an honoured Retry-After
	httpMaxBulkCount = batchFrames      // messages per bulk request
)

// HTTPStatusError is a request the server answered with a status other
// than 2xx.
type HTTPStatusError struct {
	URL        string
	StatusCode int
	// Status is the code and Go's text for it ("413 Request Entity Too
	// Large"), not the reason phrase the server sent.
	Status string
	// Body is the start of the response body when it is text, on one line,
	// with secrets redacted (see Shipper.RedactWith); a short description
	// when it is not text.
	Body       string
	RetryAfter time.Duration // from a Retry-After header (429, 503); 0 if none
	Messages   int           // messages in the refused request
	hint       string
}

func (e *HTTPStatusError) Error() string {
	msg := fmt.Sprintf("POST %s: server answered %s", e.URL, e.Status)
	if e.Body != "" {
		msg += ": " + strconv.Quote(e.Body)
	}
	return msg + e.hint
}

// httpTransport is http:// and https://: the HTTP client and its scratch
// buffers. Only the owner of the Shipper uses it, but for frame.
type httpTransport struct {
	s         *Shipper
	client    *http.Client
	transport *http.Transport
	url       string
	headers   http.Header
	gzip      bool
	gz        *gzip.Writer
	body      bytes.Buffer
	maxBulk   int // messages per request; halved after a 413, back to the maximum after a success
}

func newHTTPTransport(s *Shipper) *httpTransport {
	dialer := &net.Dialer{
		Timeout:   s.cfg.DialTimeout,
		KeepAlive: keepAlive,
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       s.tls,
		TLSHandshakeTimeout:   s.cfg.DialTimeout,
		ResponseHeaderTimeout: s.cfg.WriteTimeout,
		IdleConnTimeout:       httpIdleTimeout,
		MaxIdleConnsPerHost:   1, // one request at a time
		DisableCompression:    true,
	}
	h := &httpTransport{
		s:         s,
		transport: tr,
		client: &http.Client{
			Transport: tr,
			// A redirected POST would be replayed as a GET or need the
			// body again; report it instead of following it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		url:     s.ep.scheme + "://" + s.ep.addr() + s.ep.path,
		headers: http.Header{},
		gzip:    s.cfg.Compression != CompressNone,
		maxBulk: httpMaxBulkCount,
	}
	if !s.cfg.HTTPBulk {
		h.maxBulk = 1
	}
	for k, v := range s.cfg.HTTPHeaders {
		h.headers.Set(k, v)
	}
	h.headers.Set("Content-Type", "application/json")
	if h.gzip {
		h.headers.Set("Content-Encoding", "gzip")
		h.gz, _ = gzip.NewWriterLevel(io.Discard, flate.BestSpeed)
	}
	return h
}

// frame checks msg: a message and a newline (the bulk separator) go into
// the window, and a message over HTTPMaxBodyBytes-1 is a *TooLargeError.
func (h *httpTransport) frame(msg []byte) (framed, error) {
	s := h.s
	if len(msg) == 0 {
		return framed{}, fmt.Errorf("%w: empty", ErrInvalidMessage)
	}
	if i := bytes.IndexByte(msg, '\n'); i >= 0 {
		return framed{}, fmt.Errorf("%w: delimiter byte %q at offset %d", ErrInvalidMessage, '\n', i)
	}
	if len(msg) > s.cfg.HTTPMaxBodyBytes-1 {
		return framed{}, &TooLargeError{Endpoint: s.ep.String(), Size: len(msg), Limit: s.cfg.HTTPMaxBodyBytes - 1}
	}
	return framed{msg: msg, delim: '\n'}, nil
}

// post sends frames (each a message and a newline) in one request and
// returns the bytes of the body sent. A nil error means the server answered
// 2xx.
func (h *httpTransport) post(ctx context.Context, frames [][]byte, timeout time.Duration) (int, error) {
	h.body.Reset()
	var w io.Writer = &h.body
	if h.gzip {
		h.gz.Reset(&h.body)
		w = h.gz
	}
	for _, f := range frames {
		if len(frames) == 1 {
			f = f[:len(f)-1] // one message: the body is exactly the JSON document
		}
		_, _ = w.Write(f) // into a bytes.Buffer: cannot fail
	}
	if h.gzip {
		_ = h.gz.Close()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(h.body.Bytes()))
	if err != nil {
		return 0, err
	}
	req.Header = h.headers.Clone()
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // drop `Post "URL":`, the caller names the endpoint
			err = ue.Err
		}
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, httpDrainLimit))
		return h.body.Len(), nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, httpBodySnippet))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, httpDrainLimit))
	e := &HTTPStatusError{
		URL:        h.url,
		StatusCode: resp.StatusCode,
		Status:     statusText(resp.StatusCode),
		Body:       bodySnippet(snippet, h.s.redact),
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Messages:   len(frames),
	}
	e.hint = statusHint(e)
	return h.body.Len(), e
}

// statusText is "<code> <Go's text for it>": the reason phrase a server
// sends is its own text, so it is not repeated.
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// bodySnippet makes the start of an error answer quotable: text only (a
// compressed or binary body, such as our own gzip request echoed, is
// described, never quoted), on one line, at most httpBodyQuoted bytes,
// with secrets removed by r (nil: none known).
func bodySnippet(b []byte, r redactor) string {
	if len(b) == 0 {
		return ""
	}
	if !utf8.Valid(b) || bytes.ContainsFunc(b, func(c rune) bool {
		return c < ' ' && c != '\t' && c != '\n' && c != '\r' || c == 0x7F
	}) {
		return fmt.Sprintf("(%d bytes that are not text)", len(b))
	}
	s := strings.Join(strings.Fields(string(b)), " ")
	if r != nil {
		s = r.Redact(s) // before cutting, so a secret cut in half cannot remain
	}
	if len(s) > httpBodyQuoted {
		n := httpBodyQuoted
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "..."
	}
	return s
}

// statusHint names what to check for the usual refusals.
func statusHint(e *HTTPStatusError) string {
	switch c := e.StatusCode; {
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		return " (the input or a proxy requires authorization: set output.http_headers)"
	case c == http.StatusNotFound:
		return " (wrong path? Graylog's GELF HTTP input answers on /gelf)"
	case c == http.StatusMethodNotAllowed:
		return " (this URL does not take POST: is it a GELF HTTP input?)"
	case c == http.StatusRequestEntityTooLarge && e.Messages > 1:
		return " (the input's max_chunk_size is smaller than output.http_max_body_bytes; sending fewer messages per request)"
	case c == http.StatusRequestEntityTooLarge:
		return " (raise the input's max_chunk_size, or lower output.http_max_body_bytes so messages are cut to fit)"
	case c/100 == 3:
		return " (redirects are not followed: set output.endpoint to the final URL)"
	case c == http.StatusTooManyRequests || c == http.StatusServiceUnavailable:
		return " (the server asks to slow down; retrying)"
	case c/100 == 5:
		return " (server error; retrying)"
	}
	return ""
}

// retryAfter parses a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// batch takes the frames of the next request from the window: the
// oldest unconfirmed one, and with bulk receiving the following ones while
// the body stays within HTTPMaxBodyBytes.
func (h *httpTransport) batch() ([][]byte, uint64) {
	s := h.s
	batch, first := s.win.pending(0, s.batch[:0])
	size := 0
	for i, f := range batch {
		if i > 0 && (i >= h.maxBulk || size+len(f) > s.cfg.HTTPMaxBodyBytes) {
			clear(batch[i:])
			batch = batch[:i]
			break
		}
		size += len(f)
	}
	return batch, first
}

// connect probes the server (see probe), for Shipper.Connect.
func (h *httpTransport) connect(ctx context.Context) error {
	s := h.s
	if err := h.probe(ctx); err != nil {
		err = s.connectError(err)
		s.setLastErr(err)
		return err
	}
	s.setConnected(true)
	s.log.Info().Msg("connected")
	return nil
}

// drive is the owner's loop for http(s)://: one request at a time, in
// order, each retried until the server answers 2xx.
func (h *httpTransport) drive(ctx context.Context) error {
	s := h.s
	var wait time.Duration // before the next attempt, after a failure
	for {
		if s.win.drained() {
			return nil
		}
		if wait > 0 {
			if err := s.sleep(ctx, wait); err != nil {
				return err
			}
			wait = 0
			continue // Close may have drained nothing; re-check
		}
		batch, first := h.batch()
		if len(batch) == 0 {
			s.batch = batch
			if err := s.idle(ctx); err != nil {
				return err
			}
			continue
		}
		n, err := h.post(ctx, batch, s.cfg.WriteTimeout)
		s.bytesWritten.Add(uint64(n))
		count := len(batch)
		clear(batch)
		s.batch = batch[:0]
		if err == nil || ctx.Err() == nil {
			s.noteWritten(first, count)
		}
		if err == nil {
			if s.cfg.HTTPBulk {
				h.maxBulk = httpMaxBulkCount
			}
			s.progressed(first + uint64(count) - 1)
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *HTTPStatusError
		if errors.As(err, &se) {
			if se.StatusCode == http.StatusRequestEntityTooLarge && count > 1 {
				h.maxBulk = max(count/2, 1)
			}
		} else {
			err = s.connectError(err)
		}
		s.attemptFailed(err, "request not accepted; retrying")
		wait = backoffDelay(s.fails-1, s.cfg.BackoffMin, s.cfg.BackoffMax, nil)
		if se != nil && se.RetryAfter > wait {
			wait = se.RetryAfter
		}
		if se != nil && se.StatusCode == http.StatusRequestEntityTooLarge && count > 1 {
			wait = 0 // a smaller request is a different request: try it now
		}
	}
}

func (h *httpTransport) shut(bool) {
	h.transport.CloseIdleConnections()
	h.s.setConnected(false)
}

// probeHTTP checks that the endpoint accepts a connection and, for
// https://, completes a TLS handshake with our settings, without sending a
// request (a GELF input would log an empty message as an error). Through a
// proxy (HTTPS_PROXY and friends) only the proxy could be reached, so
// nothing is probed.
func (h *httpTransport) probe(ctx context.Context) error {
	s := h.s
	req, _ := http.NewRequest(http.MethodPost, s.ep.scheme+"://"+s.ep.addr()+s.ep.path, nil)
	if p, err := http.ProxyFromEnvironment(req); err == nil && p != nil {
		s.log.Debug().Str("proxy", p.Redacted()).Msg("endpoint reached through a proxy: not probed")
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	d := net.Dialer{Timeout: s.cfg.DialTimeout}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", s.ep.addr())
	if err != nil {
		return err
	}
	defer c.Close()
	if s.tls == nil {
		return nil
	}
	tc := tls.Client(c, s.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	if tc.ConnectionState().Version >= tls.VersionTLS13 {
		// A TLS 1.3 server rejects a client certificate after the
		// handshake; an HTTP server sends nothing unasked, so a read that
		// times out means the certificate was accepted.
		probe := min(max(2*time.Since(start), 100*time.Millisecond), time.Second)
		_ = tc.SetReadDeadline(time.Now().Add(probe))
		var b [1]byte
		if _, err := tc.Read(b[:]); err != nil && !isTimeout(err) && !errors.Is(err, io.EOF) {
			return err
		}
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
