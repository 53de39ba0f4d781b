package shipper

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// ErrClosed is returned by Send, Run and Connect after Close.
var ErrClosed = errors.New("shipper: closed")

// ErrInvalidMessage is returned (wrapped) by Send for a message that would
// corrupt the framing: empty, or containing the frame delimiter (NUL for
// TCP/TLS, newline for stdout). Encoded GELF JSON never contains either.
var ErrInvalidMessage = errors.New("shipper: invalid message")

// Stats is a snapshot of the shipper's counters.
type Stats struct {
	Sent             uint64 // messages accepted by Send (= the last sequence number)
	Confirmed        uint64 // messages confirmed (= the last confirmed sequence number)
	Unconfirmed      int    // messages in the replay window (Sent − Confirmed)
	UnconfirmedBytes int    // bytes in the replay window, delimiters included
	BytesWritten     uint64 // raw bytes written to connections (TLS overhead and re-sends included)
	Resent           uint64 // frames written again after a reconnect
	Reconnects       uint64 // connections established after the first one
	Connected        bool   // a connection is up (always true for stdout once running)
	LastError        string // the last connection error, "" if none yet; secrets redacted
	// LastReason is LastError in a few words from a fixed vocabulary ("server
	// answered 401 Unauthorized", "connection refused", "TLS: server
	// certificate not trusted"...), with nothing taken from the server's
	// answer: what an unauthenticated readiness probe may show.
	LastReason string
	// OldestUnconfirmed is when the oldest message still in the window was
	// accepted by Send; zero when the window is empty.
	OldestUnconfirmed time.Time
}

// Shipper writes GELF messages to one endpoint and tells its caller which
// ones the server received.
//
// # Window and confirmation
//
// Every message given to Send gets the next sequence number and is appended,
// framed (message + NUL, or + newline for stdout), to the replay window: a
// FIFO of frames with contiguous sequence numbers Confirmed+1..Sent, guarded
// by a mutex. Send waits on a sync.Cond while the window is full.
//
// One driver goroutine owns the connection (the one running Run, or Close
// when Run is not running; an owner token serialises them). It writes the
// frames it has not written on the current connection through a 64 KiB
// bufio.Writer, flushing when the next frame does not fit and at the latest
// FlushInterval after the first unflushed write. After each flush it records
// a mark {last sequence number flushed, raw bytes written so far on this
// connection}. A per-connection ack goroutine polls the socket (ioctl
// SIOCOUTQ on Linux; every 2 ms, slowing to 50 ms while nothing changes) as
// long as marks are pending: a mark whose byte count is <= written −
// SIOCOUTQ has been acknowledged by the server's TCP stack; confirmGrace
// (25 ms) later, if the connection is still established and nothing was
// read from it, its frames are confirmed: removed from the window and
// reported to onConfirm. Polling in its own goroutine keeps confirmation
// going while the driver is blocked in a write to a slow server.
//
// The grace covers a server that dies with acknowledged but unread bytes in
// its receive buffer: its kernel then answers with a RST, which arrives
// before the grace ends if the server crashed less than the grace after
// acknowledging (the delay of the ack and of the RST cancel out), and
// turns the frames into re-sends. Without it the reset and server-restart
// tests lose messages. Its cost is the memory of the frames it holds and a
// throughput ceiling of about WindowBytes per grace plus the delays of
// flush, acknowledgement and poll: with an 8 MiB window the 1M-event
// benchmark stays at ~90,000 events/s (over 200 MiB/s of GELF); with the
// default 16 MiB the window is not what limits it.
//
// When the connection fails (a write error or deadline, any read result)
// the driver closes it, reconnects
// with exponential backoff and jitter, and writes the whole window again,
// in order, before anything newer. Delivery is therefore at least once:
// duplicates are possible (at most one window), losses are not, within the
// limit of what a TCP acknowledgement proves (the server kernel holds the
// bytes; a server that crashes more than confirmGrace after the ack without
// reading them loses them, and GELF offers nothing better).
//
// Outside Linux the unacknowledged count cannot be read, so a flush that
// succeeded counts as acknowledged (see ackTracking).
//
// # Other transports
//
// The window and the confirmation callback are the same for every
// transport; what confirms a message differs:
//   - http(s)://: the server's 2xx answer to the request that carried it
//     (one message per request, or several with HTTPBulk). A refused
//     request is retried with backoff, so a confirmation is a real receipt
//     by the input; see http.go.
//   - udp://: the kernel accepting its datagrams. UDP gives no delivery
//     guarantee and no way to learn of a loss; a write error (ICMP port
//     unreachable) makes the message be retried. See udp.go.
//   - stdout ("-"): the write returning.
type Shipper struct {
	cfg       Config
	ep        endpoint
	tls       *tls.Config
	log       zerolog.Logger
	onConfirm func(seq uint64)

	// out is where stdout mode writes; tests replace it before Run.
	out io.Writer
	// dial opens a link; dialNet or the stdout opener, replaced in tests.
	dial func(ctx context.Context) (*link, error)

	bytesWritten atomic.Uint64
	resent       atomic.Uint64
	reconnects   atomic.Uint64

	// owner is a token (capacity 1): the goroutine that put a value in it
	// drives the link. All fields in the block below are owned by it.
	owner       chan struct{}
	abortCtx    context.Context // done once Close gave up or finished: drivers stop
	abort       context.CancelFunc
	closeDone   chan struct{}
	closeErr    error
	link        *link
	fails       int       // consecutive failures without confirmed progress (drives the backoff)
	maxWritten  uint64    // highest sequence number ever written (to count re-sends)
	connections int       // links established so far
	down        outage    // the current outage, for logging
	finished    bool      // the window was drained after Close and the link closed
	batch       [][]byte  // reused by pump
	udp         *udpLink  // udp:// only
	http        *httpLink // http(s):// only

	compressors sync.Pool // *compressor, for udp:// payloads

	mu         sync.Mutex
	space      sync.Cond     // window shrank, Close, or a waiting Send's ctx ended
	wake       chan struct{} // capacity 1: new frame or Close, for the driver
	window     []entry       // window[head:] hold sequence numbers confirmed+1..lastSeq
	arena      arena         // storage of the frames
	head       int
	winBytes   int
	lastSeq    uint64
	confirmed  uint64
	closed     bool
	connected  bool
	lastErr    string
	lastReason string

	// redact removes secrets from text a server sent (an HTTP answer that
	// echoes the request) before it goes into an error; nil: nothing to
	// remove. Set before Connect and Run.
	redact redactor
}

// redactor removes secrets from text: the stream token, which the shipper
// only ever sees inside the messages it sends, and the values of
// http_headers.
type redactor interface {
	Redact(text string) string
}

// RedactWith makes every error that quotes what the server sent (the body
// of an HTTP answer) pass through r first, so that a server echoing the
// request cannot put the stream token into the agent's log or /readyz.
// Call it before Connect and Run.
func (s *Shipper) RedactWith(r redactor) { s.redact = r }

// entry is one message in the window.
type entry struct {
	frame  []byte
	sentAt int64 // when Send accepted it (Unix nanoseconds)
	pooled bool  // frame is in s.arena
}

// outage tracks a period without a working connection, for logging.
type outage struct {
	start    time.Time // first failure; zero: no outage
	attempts int       // dial attempts since the last connection
	upAt     time.Time // last successful dial
	lastMsg  string    // root cause of the last error logged at warn level
	lastLog  time.Time
}

// repeatLog is how often an unchanged connection error is logged again at
// warn level while an outage lasts.
const repeatLog = 5 * time.Minute

// batchFrames and batchBytes bound how much the driver writes between two
// checks of the connection and the context.
const (
	batchFrames = 256
	batchBytes  = 1 << 20
)

// New validates cfg and returns a Shipper. It does not connect: Connect and
// Run do. onConfirm (may be nil) is called with seq when every message with
// a sequence number <= seq is confirmed. Calls come from a goroutine of the
// shipper (the current connection's ack goroutine), with increasing seq,
// never concurrently; they should return quickly and must not call Send or
// Close (which may wait for confirmations). log gets component=shipper and
// endpoint fields.
func New(cfg Config, log zerolog.Logger, onConfirm func(seq uint64)) (*Shipper, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	s := &Shipper{
		cfg:       r.cfg,
		ep:        r.ep,
		tls:       r.tls,
		log:       log.With().Str("component", "shipper").Str("endpoint", r.ep.String()).Logger(),
		onConfirm: onConfirm,
		out:       os.Stdout,
		owner:     make(chan struct{}, 1),
		closeDone: make(chan struct{}),
		wake:      make(chan struct{}, 1),
		arena:     arena{keep: r.cfg.WindowBytes / arenaBlockSize},
	}
	s.abortCtx, s.abort = context.WithCancel(context.Background())
	s.space.L = &s.mu
	if s.tls != nil {
		s.tls.ClientSessionCache = tls.NewLRUClientSessionCache(4) // cheaper reconnects
	}
	if s.ep.scheme == StdoutEndpoint {
		s.dial = func(context.Context) (*link, error) { return newStdoutLink(s.out, &s.bytesWritten), nil }
	} else {
		s.dial = s.dialNet
	}
	return s, nil
}

// Send hands one encoded GELF message (without framing) to the shipper and
// returns its sequence number (1, 2, 3, ... in call order). It copies msg.
//
// A nil error means the message is in the replay window: it will be
// written, and written again after every reconnect, until it is confirmed.
// Send blocks while the window is full (WindowBytes); a message larger than
// the window is accepted once the window is empty. It returns ctx.Err() if
// ctx ends before the message is accepted (also when ctx is already done),
// ErrClosed after Close, and an error wrapping ErrInvalidMessage for an
// empty message or one containing the frame delimiter. Safe for concurrent
// use; sequence numbers follow the order in which calls are accepted.
func (s *Shipper) Send(ctx context.Context, msg []byte) (uint64, error) {
	payload, delim, err := s.frame(msg)
	if err != nil {
		return 0, err
	}
	size := len(payload)
	if payload == nil {
		size = len(msg) + 1
	}

	s.mu.Lock()
	if err := s.waitSpace(ctx, size); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	e := entry{frame: payload, sentAt: time.Now().UnixNano()}
	if payload == nil {
		e.frame, e.pooled = s.arena.take(size)
		copy(e.frame, msg)
		e.frame[len(msg)] = delim
	}
	s.window = append(s.window, e)
	s.winBytes += size
	s.lastSeq++
	seq := s.lastSeq
	s.mu.Unlock()
	s.notify()
	return seq, nil
}

// frame checks msg and says what the window keeps for it: for TCP and TLS
// the message and its NUL delimiter; for HTTP and stdout the message and a
// newline (the bulk and line separator), both returned as a nil payload
// and the delimiter, for Send to copy into the arena; for UDP the
// compressed payload.
func (s *Shipper) frame(msg []byte) (payload []byte, delim byte, err error) {
	if len(msg) == 0 {
		return nil, 0, fmt.Errorf("%w: empty", ErrInvalidMessage)
	}
	if s.ep.scheme == "udp" {
		p, err := s.udpPayload(msg)
		return p, 0, err
	}
	if s.ep.scheme == StdoutEndpoint || s.ep.isHTTP() {
		delim = '\n'
	}
	if i := bytes.IndexByte(msg, delim); i >= 0 {
		return nil, 0, fmt.Errorf("%w: delimiter byte %q at offset %d", ErrInvalidMessage, delim, i)
	}
	if s.ep.isHTTP() && len(msg) > s.cfg.HTTPMaxBodyBytes-1 {
		return nil, 0, &TooLargeError{Endpoint: s.ep.String(), Size: len(msg), Limit: s.cfg.HTTPMaxBodyBytes - 1}
	}
	return nil, delim, nil
}

// MaxMessageBytes is the size of the largest message Send accepts whatever
// its content, or 0 when the transport sets no bound of its own (tcp://,
// tls://, stdout) or the bound depends on how well the message compresses
// (udp:// with compression): then Send may return a *TooLargeError.
func (s *Shipper) MaxMessageBytes() int {
	switch {
	case s.ep.isHTTP():
		return s.cfg.HTTPMaxBodyBytes - 1
	case s.ep.scheme == "udp" && s.cfg.Compression == CompressNone:
		return s.udpMaxPayload()
	}
	return 0
}

// Endpoint is the normalised endpoint, as used in logs and errors.
func (s *Shipper) Endpoint() string { return s.ep.String() }

// waitSpace waits, with s.mu held, until a frame of size bytes fits in the
// window, Close is called or ctx ends.
func (s *Shipper) waitSpace(ctx context.Context, size int) error {
	fits := func() bool { return s.winBytes == 0 || s.winBytes+size <= s.cfg.WindowBytes }
	if s.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if fits() {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.space.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	for !fits() {
		if s.closed {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		s.space.Wait()
	}
	return nil
}

// notify wakes the driver without blocking.
func (s *Shipper) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot of the counters.
func (s *Shipper) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var oldest time.Time
	if s.head < len(s.window) {
		oldest = time.Unix(0, s.window[s.head].sentAt)
	}
	return Stats{
		OldestUnconfirmed: oldest,
		Sent:              s.lastSeq,
		Confirmed:         s.confirmed,
		Unconfirmed:       int(s.lastSeq - s.confirmed),
		UnconfirmedBytes:  s.winBytes,
		BytesWritten:      s.bytesWritten.Load(),
		Resent:            s.resent.Load(),
		Reconnects:        s.reconnects.Load(),
		Connected:         s.connected,
		LastError:         s.lastErr,
		LastReason:        s.lastReason,
	}
}

// acquire takes the owner token, or returns ctx.Err().
func (s *Shipper) acquire(ctx context.Context) error {
	select {
	case s.owner <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Shipper) release() { <-s.owner }

// Connect dials once (TCP connect and TLS handshake) and keeps the
// connection for Run. It returns an error naming the endpoint, the reason
// and, for the usual mistakes, the setting to check, for example:
//
//	connect tls://127.0.0.1:40000: tls: failed to verify certificate: x509: certificate signed by unknown authority (set ca_cert to the CA that signed the server certificate)
//
// With TLS 1.3 a server rejects a client certificate only after the
// handshake; Connect waits briefly (twice the handshake time, 100 ms to 1 s)
// for such a rejection. Connect is meant for start-up, before Run: it waits
// for the connection to be free while Run owns it. It does nothing for
// stdout or when a connection is already up. For udp:// it resolves the
// address and opens the socket (UDP has no handshake to check); for
// http(s):// it connects and completes the TLS handshake without sending a
// request.
func (s *Shipper) Connect(ctx context.Context) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	if s.finished || s.isClosed() {
		return ErrClosed
	}
	if s.link != nil || s.udp != nil || s.ep.scheme == StdoutEndpoint {
		return nil
	}
	if s.ep.isHTTP() || s.ep.scheme == "udp" {
		return s.connectOnce(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.abortCtx, cancel) // a timed-out Close must not wait for the dial
	defer stop()
	start := time.Now()
	l, err := s.dial(ctx)
	if err == nil && l.conn != nil {
		if tc, ok := l.conn.(*tls.Conn); ok && tc.ConnectionState().Version >= tls.VersionTLS13 {
			probe := min(max(2*time.Since(start), 100*time.Millisecond), time.Second)
			t := time.NewTimer(probe)
			select {
			case <-l.dead:
				err = errors.Unwrap(l.deadErr) // drop "read from <endpoint>": connectError adds it
				if err == nil {
					err = l.deadErr
				}
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
	}
	if err != nil {
		err = s.connectError(err)
		s.setLastErr(err)
		return err
	}
	s.useLink(l)
	return nil
}

// Run drives the connection until ctx ends: it connects (with backoff),
// writes and flushes frames, confirms them, and reconnects and re-sends the
// window after any failure. Transport errors never end Run; they are logged
// (first failure, changes, and the recovery) and kept in Stats.LastError.
// Send makes progress only while Run (or Close) is running.
//
// Run returns ctx.Err() when ctx ends; the connection is kept for a later
// Run or for Close. It returns nil when Close was called and everything was
// confirmed (Run then closes the connection), and ErrClosed when Close has
// already finished or gave up. Concurrent Runs take turns.
func (s *Shipper) Run(ctx context.Context) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	if s.finished || s.abortCtx.Err() != nil {
		return ErrClosed
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.abortCtx, cancel)
	defer stop()
	err := s.drive(dctx)
	if err != nil && ctx.Err() == nil && s.abortCtx.Err() != nil {
		return ErrClosed
	}
	return err
}

// Close stops accepting messages (Send returns ErrClosed), flushes, waits
// until every accepted message is confirmed or ctx ends, then closes the
// connection. If ctx ends first it stops the driver, closes the connection
// and returns an error wrapping ctx.Err() that says how many messages are
// unconfirmed; they were not confirmed to onConfirm, so the caller's
// checkpoint stays before them. Close drives the connection itself if Run
// is not running (for instance because Run's ctx already ended). Later calls
// wait for the first and return its result.
func (s *Shipper) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		select {
		case <-s.closeDone:
			return s.closeErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.closed = true
	s.space.Broadcast()
	s.mu.Unlock()
	s.notify()
	defer close(s.closeDone)

	if err := s.acquire(ctx); err != nil {
		// Run still owns the link and has not drained the window: stop it.
		// Every blocking step of the driver honours the abort (writes are
		// interrupted through their deadline), so the token comes back
		// promptly.
		s.abort()
		s.owner <- struct{}{}
	}
	defer s.release()
	if !s.finished && ctx.Err() == nil {
		dctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(s.abortCtx, cancel)
		_ = s.drive(dctx) // nil once drained, else ctx.Err()
		stop()
		cancel()
	}
	s.abort()
	if s.link != nil { // not drained: drop the link, the window is lost with the process
		s.dropLink(false)
	}
	s.closeUDP()
	s.closeHTTP()
	s.finished = true
	st := s.Stats()
	if st.Unconfirmed > 0 {
		s.closeErr = fmt.Errorf("close %s: %d message%s (%d bytes) unconfirmed, last confirmed sequence number %d: %w",
			s.ep, st.Unconfirmed, plural(st.Unconfirmed), st.UnconfirmedBytes, st.Confirmed, context.Cause(ctx))
		if ctx.Err() == nil { // cannot happen: drive returns early only when ctx ends
			s.closeErr = fmt.Errorf("close %s: %d messages unconfirmed", s.ep, st.Unconfirmed)
		}
	}
	return s.closeErr
}

func (s *Shipper) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// drainedAfterClose reports whether Close was called and every message
// accepted by Send is confirmed.
func (s *Shipper) drainedAfterClose() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed && s.confirmed == s.lastSeq
}

func (s *Shipper) setLastErr(err error) {
	s.mu.Lock()
	s.lastErr = err.Error()
	s.lastReason = Reason(err)
	s.mu.Unlock()
}

// confirm removes the frames up to seq from the window, wakes waiting
// Sends and the driver, and calls onConfirm. Called by the ack goroutine of
// the current link only; the driver stops it before installing the next
// link, so calls never overlap.
func (s *Shipper) confirm(seq uint64) {
	s.mu.Lock()
	if seq <= s.confirmed {
		s.mu.Unlock()
		return
	}
	for n := seq - s.confirmed; n > 0; n-- {
		e := &s.window[s.head]
		s.winBytes -= len(e.frame)
		if e.pooled {
			s.arena.release()
		}
		*e = entry{}
		s.head++
	}
	s.confirmed = seq
	switch {
	case s.head == len(s.window):
		s.window, s.head = s.window[:0], 0
	case s.head >= 1024 && 2*s.head >= len(s.window):
		n := copy(s.window, s.window[s.head:])
		clear(s.window[n:])
		s.window, s.head = s.window[:n], 0
	}
	s.space.Broadcast()
	s.mu.Unlock()
	s.notify() // the driver may be waiting for the window to drain
	if s.onConfirm != nil {
		s.onConfirm(seq)
	}
}

// pending appends to dst the frames not yet written on a link whose last
// written sequence number is after, and returns dst and the sequence number
// of its first frame.
func (s *Shipper) pending(after uint64, dst [][]byte) ([][]byte, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := max(after, s.confirmed) + 1
	size := 0
	for i := s.head + int(first-s.confirmed-1); i < len(s.window) && len(dst) < batchFrames && size < batchBytes; i++ {
		dst = append(dst, s.window[i].frame)
		size += len(s.window[i].frame)
	}
	return dst, first
}
