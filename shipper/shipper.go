package shipper

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// ErrClosed is returned by Send, Run and Connect after Close.
var ErrClosed = errors.New("shipper: closed")

// ErrInvalidMessage is returned (wrapped) by Send for a message that would
// corrupt the framing: empty, or containing the frame delimiter (NUL for
// TCP/TLS, newline for stdout and HTTP). Encoded GELF JSON never contains
// either.
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
// Every message given to Send (or, a batch at a time, through a Batch) gets
// the next sequence number and is appended, framed, to the replay window
// (see window): a FIFO of frames with contiguous sequence numbers
// Confirmed+1..Sent. Send waits while the window is full (WindowBytes).
//
// One driver goroutine owns the connection (the one running Run, or Close
// when Run is not running; an owner token serialises them). It is woken
// once per batch, writes the frames it has not written on the current
// connection, and hands them to the server in as few writes as it can.
// What confirms a frame depends on the transport (see transport):
//   - tcp:// and tls://: the server's TCP stack acknowledged its bytes, and
//     the connection was still established confirmGrace (25 ms) later with
//     nothing read from it; an ack goroutine per connection reads the
//     socket's unacknowledged byte count (ioctl SIOCOUTQ on Linux) on a
//     cadence tied to the flushes and to the grace (see link.ack), so
//     confirmation goes on while the driver is blocked in a write to a slow
//     server. The grace covers a server that dies with acknowledged but
//     unread bytes in its receive buffer: its kernel then answers with a
//     RST, which arrives within the grace if the server crashed less than
//     the grace after acknowledging, and turns the frames into re-sends.
//     Outside Linux a flush that succeeded counts as acknowledged (see
//     ackTracking).
//   - stdout ("-"): the write returning.
//   - http(s)://: the server's 2xx answer to the request that carried it;
//     a refused request is retried with backoff. See http.go.
//   - udp://: the kernel accepting its datagrams. UDP gives no delivery
//     guarantee and no way to learn of a loss. See udp.go.
//
// Confirmed frames leave the window and are reported to onConfirm, once
// per run of confirmations.
//
// When a connection fails (a write error or deadline, any read result on a
// TCP connection) the driver closes it, reconnects with exponential
// backoff and jitter, and writes the whole window again, in order, before
// anything newer. Delivery is therefore at least once: duplicates are
// possible (at most one window), losses are not, within the limit of what
// the transport's confirmation proves.
type Shipper struct {
	cfg    Config
	ep     endpoint
	tls    *tls.Config
	log    zerolog.Logger
	win    *window
	tr     transport
	redact redactor // see RedactWith; nil: nothing to remove

	bytesWritten atomic.Uint64
	resent       atomic.Uint64
	reconnects   atomic.Uint64
	maxWritten   atomic.Uint64 // highest sequence number ever written (to count re-sends)

	// owner is a token (capacity 1): the goroutine that put a value in it
	// drives the transport. The fields in the block below are its own.
	owner       chan struct{}
	abortCtx    context.Context // done once Close gave up or finished: drivers stop
	abort       context.CancelFunc
	closeDone   chan struct{}
	closeErr    error
	fails       int      // consecutive failures without confirmed progress (drives the backoff)
	connections int      // connections established so far
	down        outage   // the current outage, for logging
	finished    bool     // the window was drained after Close and the transport shut
	batch       [][]byte // reused by the drivers

	mu         sync.Mutex // guards the fields below
	connected  bool
	lastErr    string
	lastReason string
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

// outage tracks a period without a working connection, for logging.
type outage struct {
	start    time.Time // first failure; zero: no outage
	attempts int       // connection attempts since the last connection
	upAt     time.Time // last successful connection
	lastMsg  string    // root cause of the last error logged at warn level
	lastLog  time.Time
}

// repeatLog is how often an unchanged connection error is logged again at
// warn level while an outage lasts.
const repeatLog = 5 * time.Minute

// batchFrames and batchBytes bound how much the driver takes from the
// window at a time, between two checks of the connection and the context.
const (
	batchFrames = 256
	batchBytes  = 1 << 20
)

// New validates cfg and returns a Shipper. It does not connect: Connect and
// Run do. onConfirm (may be nil) is called with seq when every message with
// a sequence number <= seq is confirmed. Calls come from a goroutine of the
// shipper, with increasing seq, never concurrently; they should return
// quickly and must not call Send or Close (which may wait for
// confirmations). log gets component=shipper and endpoint fields.
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
		win:       newWindow(r.cfg.WindowBytes, onConfirm),
		owner:     make(chan struct{}, 1),
		closeDone: make(chan struct{}),
	}
	s.abortCtx, s.abort = context.WithCancel(context.Background())
	if s.tls != nil {
		s.tls.ClientSessionCache = tls.NewLRUClientSessionCache(4) // cheaper reconnects
	}
	s.tr = newTransport(s)
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
// ErrClosed after Close, and Batch.Add's errors. Safe for concurrent use;
// sequence numbers follow the order in which calls are accepted. A sender
// of many messages uses a Batch.
func (s *Shipper) Send(ctx context.Context, msg []byte) (uint64, error) {
	f, err := s.tr.frame(msg)
	if err != nil {
		return 0, err
	}
	first, _, err := s.win.add(ctx, []framed{f})
	if err != nil {
		return 0, err
	}
	s.win.notify()
	return first, nil
}

// Batch collects messages that are handed to the shipper together: the
// window is locked and the driver woken once per batch, not once per
// message. A Batch is not safe for concurrent use: each sender has its own
// (NewBatch).
type Batch struct {
	s       *Shipper
	frames  []framed
	scratch [][]byte // for writeNow
}

// NewBatch returns an empty batch for s.
func (s *Shipper) NewBatch() *Batch { return &Batch{s: s} }

// Add checks one encoded GELF message and frames it for the transport. It
// returns an error wrapping ErrInvalidMessage for an empty message or one
// containing the frame delimiter, and a *TooLargeError for a message the
// transport cannot carry (encode it again, smaller, and Add that); the
// batch is then unchanged. msg must not change until Send returned: it is
// copied then.
func (b *Batch) Add(msg []byte) error {
	f, err := b.s.tr.frame(msg)
	if err != nil {
		return err
	}
	b.frames = append(b.frames, f)
	return nil
}

// Len is the number of messages in the batch.
func (b *Batch) Len() int { return len(b.frames) }

// Send hands the batch to the shipper, as Send does for one message, and
// empties it. The messages get consecutive sequence numbers, first to
// first+n-1. When ctx ends or Close is called while the batch waits for
// room in the window, only the first n messages are accepted and err says
// why the others are not.
func (b *Batch) Send(ctx context.Context) (first uint64, n int, err error) {
	first, n, err = b.s.win.add(ctx, b.frames)
	clear(b.frames) // no reference to the caller's messages
	b.frames = b.frames[:0]
	if n > 0 {
		b.s.win.notify()
	}
	return first, n, err
}

// SendNow is Send for a sender about to wait for more input (a live tail
// that read all there is): when the connection is free (tcp://, tls://,
// stdout, with no backlog, outage or Close in progress), it also writes the
// batch to the server itself, saving a wake-up of the driver. Run must
// still be running: it does everything else (confirmations that need
// waiting for, reconnects, re-sends).
func (b *Batch) SendNow(ctx context.Context) (first uint64, n int, err error) {
	first, n, err = b.s.win.add(ctx, b.frames)
	clear(b.frames)
	b.frames = b.frames[:0]
	if n == 0 {
		return first, n, err
	}
	if st, ok := b.s.tr.(*streamTransport); ok && err == nil {
		var done bool
		if b.scratch, done = st.writeNow(b.scratch); done {
			return first, n, nil
		}
	}
	b.s.win.notify()
	return first, n, err
}

// MaxMessageBytes is Config.MaxMessageBytes of the shipper's
// configuration: above it (or, when it is 0, for some messages of
// udp://), Send returns a *TooLargeError.
func (s *Shipper) MaxMessageBytes() int { return s.cfg.MaxMessageBytes() }

// Endpoint is the normalised endpoint, as used in logs and errors.
func (s *Shipper) Endpoint() string { return s.ep.String() }

// Stats returns a snapshot of the counters.
func (s *Shipper) Stats() Stats {
	w := s.win.stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		OldestUnconfirmed: w.oldest,
		Sent:              w.last,
		Confirmed:         w.confirmed,
		Unconfirmed:       int(w.last - w.confirmed),
		UnconfirmedBytes:  w.bytes,
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

// Connect makes one connection attempt and keeps the connection for Run:
// for tcp:// and tls://, the TCP connect and TLS handshake; for udp://, the
// socket (UDP has no handshake to check); for http(s)://, a TCP connect and
// TLS handshake without a request. It returns an error naming the
// endpoint, the reason and, for the usual mistakes, the setting to check,
// for example:
//
//	connect tls://127.0.0.1:40000: tls: failed to verify certificate: x509: certificate signed by unknown authority (set ca_cert to the CA that signed the server certificate)
//
// With TLS 1.3 a server rejects a client certificate only after the
// handshake; Connect waits briefly (twice the handshake time, 100 ms to 1 s)
// for such a rejection. Connect is meant for start-up, before Run: it waits
// for the connection to be free while Run owns it. It does nothing for
// stdout or when a connection is already up.
func (s *Shipper) Connect(ctx context.Context) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	if s.finished || s.win.isClosed() {
		return ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.abortCtx, cancel) // a timed-out Close must not wait for the dial
	defer stop()
	return s.tr.connect(ctx)
}

// Run drives the connection until ctx ends: it connects (with backoff),
// writes the frames, has them confirmed, and reconnects and re-sends the
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

// drive runs the transport's loop and, once the window is drained after
// Close, shuts the transport.
func (s *Shipper) drive(ctx context.Context) error {
	err := s.tr.drive(ctx)
	if err == nil {
		s.finished = true
		s.tr.shut(true)
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
	s.win.mu.Lock()
	again := s.win.closed
	s.win.mu.Unlock()
	if again {
		select {
		case <-s.closeDone:
			return s.closeErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.win.close()
	defer close(s.closeDone)

	if err := s.acquire(ctx); err != nil {
		// Run still owns the connection and has not drained the window:
		// stop it. Every blocking step of the driver honours the abort
		// (writes are interrupted through their deadline), so the token
		// comes back promptly.
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
	if !s.finished { // not drained: what is unconfirmed is lost with the process
		s.tr.shut(false)
		s.finished = true
	}
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

func (s *Shipper) setLastErr(err error) {
	s.mu.Lock()
	s.lastErr = err.Error()
	s.lastReason = Reason(err)
	s.mu.Unlock()
}

func (s *Shipper) setConnected(up bool) {
	s.mu.Lock()
	s.connected = up
	s.mu.Unlock()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
