package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// appender is the spool (pkg/spool): Append writes data, one or more
// complete JSON lines each ending in '\n', durably or not at all, and
// returns nil only once they are synced to disk. It is called from
// several requests at once, and must not keep data after it returns: the
// receiver reuses the buffer.
type appender interface {
	Append(data []byte) error
}

// Server limits. Bodies can be tens of MiB from a sender on a busy
// control plane, so reading them may take a while; headers may not.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 2 * time.Minute
	writeTimeout      = 3 * time.Minute // from the end of the headers: reading, the spool's Append, the answer
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	shutdownGrace     = 5 * time.Second
	logPeriod         = 30 * time.Second // at most one log line per refusal reason per period

	// maxInFlight bounds the batches read and spooled at once, and so the
	// memory they take (each up to max_body_bytes, plus its lines). More
	// wait their turn. kube-apiserver's batch mode sends a few at a time.
	maxInFlight = 8
	// poolMaxBuf is the largest buffer kept for reuse between requests:
	// usual batches (400 events of 1–2 KB) fit, a rare large one does not
	// stay pinned.
	poolMaxBuf   = 4 << 20
	poolMaxSpans = 1 << 14
)

// Receiver is the HTTPS endpoint for kube-apiserver's audit webhook (see
// the package documentation for what it guarantees). Its methods are safe
// for concurrent use.
type Receiver struct {
	cfg    Config
	out    appender
	isFull func(error) bool
	log    zerolog.Logger

	ln  net.Listener
	srv *http.Server
	mat atomic.Pointer[material]

	sem     chan struct{} // maxInFlight slots
	appends calls
	started atomic.Bool
	grace   time.Duration // shutdown bound, twice: for requests, then for Appends

	stats         counters
	logs          [numReasons]every
	failing       atomic.Uint64 // refusals by the spool since it last accepted
	verifications atomic.Uint64 // client certificate chains verified (tests)
	retryAfter    string
}

// New loads the certificate, key, client CA bundle and token of cfg and
// listens on cfg.Listen, so that a bad file or a busy port fails here and
// [Receiver.Addr] is known; [Receiver.Run] serves. out is the spool;
// isFull tells a "spool full" error of out (answered 429) from other
// errors (503). log should carry the component.
func New(cfg Config, out appender, isFull func(error) bool, log zerolog.Logger) (*Receiver, error) {
	cfg.SetDefaults()
	if !cfg.Enabled() {
		return nil, errors.New("webhook: webhook.listen is empty: the receiver is off")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, errors.New("webhook: no spool to write batches to")
	}
	if isFull == nil {
		isFull = func(error) bool { return false }
	}
	m, err := loadMaterial(cfg, time.Now())
	if err != nil {
		return nil, err
	}
	r := &Receiver{
		cfg:        cfg,
		out:        out,
		isFull:     isFull,
		log:        log,
		sem:        make(chan struct{}, maxInFlight),
		grace:      shutdownGrace,
		retryAfter: strconv.FormatInt(int64(cfg.RetryAfter/time.Second), 10),
	}
	r.mat.Store(m)
	tc := serverTLS(cfg)
	tc.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.mat.Load().cert, nil }
	r.srv = &http.Server{
		Handler:           http.HandlerFunc(r.serve),
		TLSConfig:         tc,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          stdlog.New(serverLog{r}, "", 0),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, new(connAuth))
		},
	}
	if r.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("webhook: listen on %s: %w", cfg.Listen, err)
	}
	return r, nil
}

// Addr is the address the receiver listens on, with the port chosen when
// webhook.listen asked for port 0.
func (r *Receiver) Addr() string { return r.ln.Addr().String() }

// Stats returns a snapshot of the counters.
func (r *Receiver) Stats() Stats { return r.stats.snapshot() }

// Reload re-reads the certificate and key, the client CA bundle and the
// token (on SIGHUP). New connections get the new certificate, and every
// request, on new connections or old ones, is checked against the new CA
// bundle and token. When any file fails to load, nothing changes and the
// error says which.
func (r *Receiver) Reload() error {
	m, err := loadMaterial(r.cfg, time.Now())
	if err != nil {
		return err
	}
	r.mat.Store(m)
	return nil
}

// Run serves HTTPS until ctx ends, then stops: it stops accepting, lets
// the requests under way finish for up to 5 seconds, cuts off the rest,
// and waits up to 5 more seconds for a spool Append still running. A batch
// cut off was not answered 200, so kube-apiserver sends it again. Run
// returns nil after a shutdown, and an error if serving fails. Call it
// once.
func (r *Receiver) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("webhook: Run called twice, or after Close")
	}
	errc := make(chan error, 1)
	go func() { errc <- r.srv.ServeTLS(r.ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("webhook: serve on %s: %w", r.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), r.grace)
	defer cancel()
	if err := r.srv.Shutdown(sctx); err != nil {
		r.log.Warn().Err(err).Dur("grace", r.grace).
			Msg("requests still under way at shutdown were cut off; kube-apiserver sends their batches again")
		r.srv.Close()
	}
	<-errc // ErrServerClosed
	t := time.NewTimer(r.grace)
	defer t.Stop()
	select {
	case <-r.appends.close():
	case <-t.C:
		r.log.Error().Dur("waited", r.grace).
			Msg("a spool Append has not returned; stopping anyway (its batch was not answered 200)")
	}
	return nil
}

// Close releases the listener of a Receiver whose Run was never called
// (New succeeded, then the agent failed to start). After Run, it does
// nothing: Run closes everything when its context ends.
func (r *Receiver) Close() error {
	if !r.started.CompareAndSwap(false, true) {
		return nil
	}
	return r.ln.Close()
}

// serve handles one request: authenticate, check the request, read and
// split the body, append its lines, answer.
func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	m := r.mat.Load()
	if rs, msg, err := r.authenticate(req, m); msg != "" {
		if rs == rNoToken {
			w.Header().Set("WWW-Authenticate", `Bearer realm="audittail"`)
		}
		r.refuse(w, req, rs, msg, err)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.refuse(w, req, rMethod, "only POST: kube-apiserver's audit webhook POSTs EventList batches", nil)
		return
	}
	if msg := contentTypeProblem(req.Header); msg != "" {
		r.refuse(w, req, rContentType, msg, nil)
		return
	}
	limit := r.cfg.MaxBodyBytes
	if req.ContentLength > limit {
		r.refuse(w, req, rTooLarge, tooLarge(limit), nil)
		return
	}
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-req.Context().Done():
		return // the sender is gone: nobody to answer
	}
	wk := workPool.Get().(*work)
	defer wk.release()

	var err error
	wk.body, err = readBody(wk.body[:0], http.MaxBytesReader(w, req.Body, limit), req.ContentLength)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			r.refuse(w, req, rTooLarge, tooLarge(limit), nil)
		} else {
			r.refuse(w, req, rReadError, "the body could not be read", err)
		}
		return
	}
	if err := wk.scan.parse(wk.body); err != nil {
		r.refuse(w, req, rBadBody, err.Error(), nil)
		return
	}
	if wk.lines, err = wk.scan.appendLines(wk.lines[:0]); err != nil {
		r.refuse(w, req, rBadBody, err.Error(), nil)
		return
	}
	n := wk.scan.items()
	if n > 0 {
		if err := r.append(wk.lines); err != nil {
			w.Header().Set("Retry-After", r.retryAfter)
			if r.isFull(err) {
				r.refuse(w, req, rSpoolFull, "the spool is full because the log server is behind; retry after "+r.retryAfter+"s", err)
			} else {
				r.refuse(w, req, rSpoolError, "the spool could not write the batch; retry after "+r.retryAfter+"s", err)
			}
			r.failing.Add(1)
			return
		}
		if failed := r.failing.Swap(0); failed > 0 {
			r.log.Info().Uint64("refused_batches", failed).Msg("the spool takes batches again")
		}
	}
	r.stats.batches.Add(1)
	r.stats.events.Add(uint64(n))
	r.stats.bytes.Add(uint64(len(wk.lines)))
	r.stats.lastAccepted.Store(time.Now().UnixNano())
	r.log.Debug().Int("events", n).Int("bytes", len(wk.lines)).Str("remote", req.RemoteAddr).Msg("batch spooled")

	var buf [40]byte
	answer := strconv.AppendInt(append(buf[:0], `{"accepted":`...), int64(n), 10)
	answer = append(answer, "}\n"...)
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(answer))}
	w.WriteHeader(http.StatusOK)
	w.Write(answer)
}

var jsonContentType = []string{"application/json"}

// append hands lines to the spool unless Run is shutting down.
func (r *Receiver) append(lines []byte) error {
	if !r.appends.enter() {
		return errors.New("webhook: shutting down")
	}
	defer r.appends.leave()
	return r.out.Append(lines)
}

func tooLarge(limit int64) string {
	return fmt.Sprintf("the body is larger than webhook.max_body_bytes (%d bytes): lower kube-apiserver's --audit-webhook-batch-max-size, or raise the limit", limit)
}

// refuse counts the refusal, logs it (at most once per logPeriod and
// reason; err, if any, goes only to the log) and answers "reason: msg".
func (r *Receiver) refuse(w http.ResponseWriter, req *http.Request, rs reason, msg string, err error) {
	r.stats.refused[rs].Add(1)
	if ok, held := r.logs[rs].allow(time.Now(), logPeriod); ok {
		ev := r.log.Warn()
		if rs == rSpoolError {
			ev = r.log.Error()
		}
		if err != nil {
			ev = ev.Err(err)
		}
		if held > 0 {
			ev = ev.Uint64("similar_not_logged", held)
		}
		ev.Str("reason", rs.String()).Int("status", reasonStatus[rs]).Str("remote", req.RemoteAddr).Msg(msg)
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(reasonStatus[rs])
	io.WriteString(w, rs.String()+": "+msg+"\n")
}

// contentTypeProblem returns why the request's Content-Type or
// Content-Encoding is not acceptable, or "". client-go sends
// application/json (runtime.ContentTypeJSON, set by pkg/util/webhook's
// NewGenericWebhook) and never encodes request bodies.
func contentTypeProblem(h http.Header) string {
	if ct := h.Get("Content-Type"); ct != "" && ct != "application/json" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return "the Content-Type is not application/json: kube-apiserver's audit webhook sends JSON"
		}
	}
	for _, v := range h.Values("Content-Encoding") {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "identity") {
				return "a Content-Encoding is not supported: send the body unencoded, as kube-apiserver does"
			}
		}
	}
	return ""
}

// readBody reads body into dst, growing it as needed (to size at once
// when the length is known).
func readBody(dst []byte, body io.Reader, size int64) ([]byte, error) {
	if size > 0 && int64(cap(dst)) < size+1 {
		dst = make([]byte, 0, size+1) // +1: the read that finds EOF needs room
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := body.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// work is what one request needs, kept between requests.
type work struct {
	body, lines []byte
	scan        listScan
}

var workPool = sync.Pool{New: func() any { return new(work) }}

// release returns w to the pool, without buffers too large to keep.
func (w *work) release() {
	if cap(w.body) > poolMaxBuf {
		w.body = nil
	}
	if cap(w.lines) > poolMaxBuf {
		w.lines = nil
	}
	if cap(w.scan.spans) > poolMaxSpans {
		w.scan.spans = nil
	}
	w.scan.b = nil
	workPool.Put(w)
}

// authenticate checks the client certificate and the token that m
// requires. It returns the first failure: its reason, the answer's
// explanation, and for the log only, the error behind it. msg is "" when
// the request passes.
func (r *Receiver) authenticate(req *http.Request, m *material) (rs reason, msg string, err error) {
	if m.clientCAs != nil {
		if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
			return rNoClientCert, "no client certificate: the sender's kubeconfig needs the client-certificate and client-key signed by the receiver's client CA", nil
		}
		ca, _ := req.Context().Value(connKey{}).(*connAuth)
		if ca == nil {
			ca = new(connAuth)
		}
		if msg, err := ca.check(r, req.TLS.PeerCertificates, m.clientCAs, time.Now()); msg != "" {
			return rBadClientCert, msg, err
		}
	}
	if m.tokenSum != nil {
		auth := req.Header.Get("Authorization")
		scheme, tok, _ := strings.Cut(auth, " ")
		if auth == "" || !strings.EqualFold(scheme, "Bearer") {
			return rNoToken, "no bearer token: the sender's kubeconfig needs the token of the receiver's token file", nil
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		if subtle.ConstantTimeCompare(sum[:], m.tokenSum[:]) != 1 {
			return rBadToken, "the bearer token is wrong", nil
		}
	}
	return 0, "", nil
}

// connKey keys a connection's connAuth in its context (set by ConnContext).
type connKey struct{}

// connAuth caches the verification of a connection's client certificate,
// which stays the same for its life, so that a keep-alive connection pays
// for it once, not once per batch. The result is verified again when the
// CA bundle changes (Reload) or the certificate chain expires.
type connAuth struct {
	mu    sync.Mutex
	pool  *x509.CertPool // what the result was verified against
	until time.Time      // the result holds until then
	msg   string         // "" when the certificate is accepted
	err   error          // why not, for the log
}

// check returns "" if the peer's certificate verifies against pool, and
// otherwise a short reason for the answer and the error (naming the
// certificate's subject) for the log.
func (c *connAuth) check(r *Receiver, peer []*x509.Certificate, pool *x509.CertPool, now time.Time) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pool == pool && now.Before(c.until) {
		return c.msg, c.err
	}
	r.verifications.Add(1)
	c.pool, c.msg, c.err, c.until = pool, "", nil, now.Add(time.Minute) // a refusal is kept a minute
	opts := x509.VerifyOptions{
		Roots:       pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(peer) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, ic := range peer[1:] {
			opts.Intermediates.AddCert(ic)
		}
	}
	chains, err := peer[0].Verify(opts)
	if err != nil {
		// The log gets what the answer does not: whose certificate, and
		// the verifier's own words.
		c.msg, c.err = clientCertProblem(err), fmt.Errorf("client certificate %q: %w", peer[0].Subject.String(), err)
		return c.msg, c.err
	}
	c.until = peer[0].NotAfter
	for _, ch := range chains[0] {
		if ch.NotAfter.Before(c.until) {
			c.until = ch.NotAfter
		}
	}
	return "", nil
}

// clientCertProblem turns a verification error into a short reason.
func clientCertProblem(err error) string {
	if e, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		switch e.Reason {
		case x509.Expired:
			return "the client certificate (or its CA) has expired or is not valid yet"
		case x509.IncompatibleUsage:
			return "the client certificate is not for client authentication (its extended key usage lacks clientAuth)"
		}
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return "the client certificate is not signed by a CA of the receiver's client CA bundle"
	}
	return "the client certificate does not verify against the receiver's client CA bundle"
}

// calls counts the spool Appends under way, so that Run returns only
// once they are over; after close, no Append starts.
type calls struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{} // closed when n drops to 0 after close
}

func (c *calls) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.n++
	return true
}

func (c *calls) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n--; c.n == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
}

// close stops new calls and returns a channel closed once none is under way.
func (c *calls) close() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	ch := make(chan struct{})
	if c.n == 0 {
		close(ch)
	} else {
		c.idle = ch
	}
	return ch
}

// serverLog is the http.Server's ErrorLog: failed TLS handshakes, which
// scanners cause by the thousand, are counted and logged at debug level;
// so is other connection noise. A handler panic is an error.
type serverLog struct{ r *Receiver }

func (l serverLog) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	switch {
	case strings.HasPrefix(msg, "http: TLS handshake error"):
		l.r.stats.handshakes.Add(1)
		l.r.log.Debug().Msg(msg)
	case strings.Contains(msg, "panic"):
		l.r.log.Error().Msg(msg)
	default:
		l.r.log.Debug().Msg(msg)
	}
	return len(p), nil
}
