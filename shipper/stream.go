package shipper

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/audittail/audittail/internal/fifo"
)

// Why not go-gelf's TCPWriter (github.com/Graylog2/go-gelf, v2 branch tip
// 1550ee6, tcpwriter.go): it dials with plain net.Dial, so there is no TLS
// (LDP's GELF input is TLS on 12202) and no dial timeout; it never sets a
// write deadline, so a server that stops reading blocks Write forever while
// holding its mutex; after the peer closes, the next Write returns nil and
// the message is silently lost (reproduced: msg1..msg4 all err=nil, server
// got msg1, msg3, msg4); on reconnect it assigns a new conn without closing
// the old one (fd leak until the GC finalizer); it sleeps ReconnectDelay×1s
// with the mutex held, races Close against reconnect, and re-dials after
// Close. It also writes one syscall per message. The stream transport below
// replaces it: bounded dial, TLS ≥ 1.2, deadlines, one write per batch, a
// reader that notices a dead peer, and confirmation by TCP acknowledgement.

const (
	bufferSize = 64 << 10         // bufio.Writer size: many frames per syscall / TLS record
	keepAlive  = 15 * time.Second // TCP keepalive idle and interval
	pollMin    = 2 * time.Millisecond
	pollMax    = 50 * time.Millisecond
	// lazyConfirm is how long a mark may wait for its confirmation past
	// its grace when the link is not behind (less than kickBytes not seen
	// acknowledged) and Close is not waiting: the flush of the next batch
	// looks at the marks anyway, so at a steady rate confirmation costs no
	// wake-up of its own; this bounds the wait after the last batch.
	lazyConfirm = 200 * time.Millisecond
	// confirmGrace is how long after the server's TCP stack acknowledged
	// bytes the connection must stay up before they count as received (see
	// mark.ackedAt and the Shipper doc). It catches a server that crashes
	// with acknowledged bytes it has not read yet, when it crashes within
	// the grace: a server that reads as data arrives (Graylog's inputs do)
	// holds a byte unread for far less. A longer grace would catch a
	// server that stalls longer before crashing, at the price of a lower
	// throughput ceiling (about window_bytes per grace) or a larger window.
	confirmGrace = 25 * time.Millisecond
	// kickBytes: while at least this many bytes are written and not seen
	// acknowledged (a backlog), the socket is polled every pollMin to
	// pollMax, so that the window drains as fast as the server takes it.
	kickBytes = 1 << 20
)

// streamTransport is tcp://, tls:// and stdout: frames written in order on
// one byte stream, confirmed as the server's TCP stack acknowledges them
// (for stdout, as the write returns), written again on a new connection
// after a failure.
type streamTransport struct {
	s     *Shipper
	dial  func(ctx context.Context) (*link, error) // dialNet, the stdout opener, or a test's
	out   io.Writer                                // where stdout writes; tests replace it before Run
	delim byte                                     // after each message: NUL (GELF TCP), newline (stdout)
	link  *link                                    // the current connection; nil when none
	// free is the link a sender may write on itself (see writeNow): the
	// current link while the driver has nothing to do with it but wait;
	// nil while it connects, writes a backlog, lives through an outage,
	// or waits for FlushInterval or Close.
	free atomic.Pointer[link]
	// direct counts the batches senders wrote themselves (writeNow).
	direct atomic.Int64
}

func newStdoutTransport(s *Shipper) *streamTransport {
	t := &streamTransport{s: s, out: os.Stdout, delim: '\n'}
	t.dial = func(context.Context) (*link, error) { return newStdoutLink(t.out, &s.bytesWritten), nil }
	return t
}

func (t *streamTransport) frame(msg []byte) (framed, error) {
	if len(msg) == 0 {
		return framed{}, fmt.Errorf("%w: empty", ErrInvalidMessage)
	}
	if i := bytes.IndexByte(msg, t.delim); i >= 0 {
		return framed{}, fmt.Errorf("%w: delimiter byte %q at offset %d", ErrInvalidMessage, t.delim, i)
	}
	return framed{msg: msg, delim: t.delim}, nil
}

// connect dials once and keeps the link. A TLS 1.3 server rejects a
// client certificate only after the handshake, so the link is watched
// briefly for that rejection.
func (t *streamTransport) connect(ctx context.Context) error {
	s := t.s
	if t.link != nil {
		return nil
	}
	start := time.Now()
	l, err := t.dial(ctx)
	if err == nil && l.conn != nil {
		if tc, ok := l.conn.(*tls.Conn); ok && tc.ConnectionState().Version >= tls.VersionTLS13 {
			probe := min(max(2*time.Since(start), 100*time.Millisecond), time.Second)
			tm := time.NewTimer(probe)
			select {
			case <-l.dead:
				err = errors.Unwrap(l.deadErr) // drop "read from <endpoint>": connectError adds it
				if err == nil {
					err = l.deadErr
				}
				l.kill()
			case <-tm.C:
			case <-ctx.Done():
			}
			tm.Stop()
		}
	}
	if err != nil {
		err = s.connectError(err)
		s.setLastErr(err)
		return err
	}
	t.use(l)
	return nil
}

// drive is the owner's loop: connect (with backoff), write, reconnect
// after a failure.
func (t *streamTransport) drive(ctx context.Context) error {
	s := t.s
	for {
		if s.win.drained() {
			return nil
		}
		if t.link == nil {
			if err := s.connectLoop(ctx, t.open); err != nil {
				return err
			}
			continue
		}
		err := t.pump(ctx)
		var le *linkError
		if errors.As(err, &le) {
			if ctx.Err() != nil { // most likely our own interruption of a write
				s.log.Debug().Err(le.err).Msg("connection dropped while stopping")
				t.drop(false)
				return ctx.Err()
			}
			t.lost(le.err)
			continue
		}
		if err != nil {
			return err
		}
	}
}

// open dials and installs the link.
func (t *streamTransport) open(ctx context.Context) error {
	l, err := t.dial(ctx)
	if err == nil {
		t.use(l)
	}
	return err
}

// use installs a new connection: everything unconfirmed will be written
// again on it, in order.
func (t *streamTransport) use(l *link) {
	s := t.s
	w := s.win.stats()
	l.sentSeq = w.confirmed
	t.link = l
	l.startAck(s.win.confirm, s.win.isClosed)
	s.connectedOnce(w.last-w.confirmed, l.conn != nil)
}

// drop stops the link's confirmations, closes the connection (with a TLS
// close_notify if graceful) and forgets the link.
func (t *streamTransport) drop(graceful bool) {
	l := t.link
	t.free.Store(nil)
	l.shutdown()
	if graceful {
		if err := l.closeGracefully(); err != nil {
			t.s.log.Debug().Err(err).Msg("closing drained connection")
		}
	} else {
		l.kill()
	}
	t.link = nil
	t.s.setConnected(false)
}

// lost closes a failed connection and starts an outage.
func (t *streamTransport) lost(err error) {
	s := t.s
	if t.link.progress.Load() { // it worked for a while: start the backoff over
		s.fails = 0
	}
	t.drop(false)
	s.fails++
	s.setLastErr(err)
	if s.down.start.IsZero() {
		s.down.start = time.Now()
	}
	s.logFailure(err, "connection lost; reconnecting and re-sending unconfirmed messages")
}

// shut closes the link, if any.
func (t *streamTransport) shut(graceful bool) {
	if t.link == nil {
		return
	}
	t.drop(graceful)
	if graceful {
		t.s.log.Info().Msg("all messages confirmed; connection closed")
	}
}

// pump writes on the current link until the link fails (*linkError), ctx
// ends (ctx.Err()), or Close was called and the window is drained (nil).
// It is woken once per batch: it writes every frame the window holds that
// this link has not written yet, then flushes them in one write (unless
// FlushInterval asks to wait for more). The link's ack goroutine confirms
// meanwhile.
func (t *streamTransport) pump(ctx context.Context) error {
	s, l := t.s, t.link
	interrupted := make(chan struct{})
	stopInterrupt := context.AfterFunc(ctx, func() {
		defer close(interrupted)
		l.interrupt()
	})
	defer func() {
		if !stopInterrupt() {
			<-interrupted
		}
	}()
	var flushTimer *time.Timer
	if s.cfg.FlushInterval > 0 {
		flushTimer = time.NewTimer(time.Hour)
		defer flushTimer.Stop()
	}

	for {
		// Write what is pending, a bounded batch at a time.
		t.free.Store(nil)
		l.wmu.Lock()
		var more bool
		var err error
		s.batch, more, err = t.write(l, s.batch)
		if !s.down.start.IsZero() && l.progress.Load() {
			s.recovered()
		}
		if err == nil && !more && l.bw.Buffered() > 0 &&
			(flushTimer == nil || s.win.isClosed() || time.Since(l.firstUnflushed) >= s.cfg.FlushInterval) {
			// Nothing more pending: flush, unless FlushInterval says to
			// wait for more (and Close is not waiting).
			err = l.flush()
		}
		var flushAt time.Time // when what is still buffered is due
		if l.bw.Buffered() > 0 {
			flushAt = l.firstUnflushed.Add(s.cfg.FlushInterval)
		}
		l.wmu.Unlock()
		if err != nil {
			return l.failure(err)
		}
		if more { // more may be pending: only check for an interruption
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-l.dead:
				return &linkError{l.deadErr}
			default:
				continue
			}
		}
		if s.win.drained() {
			return nil
		}
		if s.win.isClosed() {
			l.check() // Close waits: confirm as soon as the grace ends
		} else if flushTimer == nil && s.down.start.IsZero() {
			t.free.Store(l) // caught up: senders may write on it themselves
		}

		// Sleep until something happens (new frames, a confirmation,
		// Close) or the flush is due.
		var flushC <-chan time.Time
		if !flushAt.IsZero() {
			flushTimer.Reset(max(time.Until(flushAt), 0))
			flushC = flushTimer.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.dead:
			return &linkError{l.deadErr}
		case <-s.win.wake:
		case <-flushC:
		}
		if flushTimer != nil {
			flushTimer.Stop()
		}
	}
}

// write writes on l the frames the window holds that l has not written
// yet, up to batchFrames of them, with scratch as the reused storage of
// their list; more says whether there may be more. The caller holds l.wmu.
func (t *streamTransport) write(l *link, scratch [][]byte) (_ [][]byte, more bool, err error) {
	s := t.s
	batch, first := s.win.pending(l.sentSeq, scratch[:0])
	n := 0
	for i, f := range batch {
		if err = l.writeFrame(f, first+uint64(i)); err != nil {
			break
		}
		n++
	}
	s.noteWritten(first, n)
	more = len(batch) == batchFrames
	clear(batch)
	return batch[:0], more, err
}

// writeNow writes the frames the window holds that the current link has
// not written yet, and flushes them, from the calling goroutine: a sender
// about to wait for input saves the hand-off to the driver (a wake-up of
// another goroutine, at a steady rate the main cost of a batch). It does so
// only when the driver has let the link free (see free) and is not writing
// on it, and reports whether it did; if not, the driver is to be woken. A
// write that fails fails the link, which the driver then replaces; the
// frames stay in the window, to be written again.
func (t *streamTransport) writeNow(scratch [][]byte) ([][]byte, bool) {
	l := t.free.Load()
	if l == nil || !l.wmu.TryLock() {
		return scratch, false
	}
	defer l.wmu.Unlock()
	if t.free.Load() != l || l.isDead() {
		return scratch, false
	}
	for {
		var more bool
		var err error
		scratch, more, err = t.write(l, scratch)
		if err != nil {
			l.fail(l.failure(err).err)
			return scratch, true
		}
		if !more {
			break
		}
	}
	if err := l.flush(); err != nil {
		l.fail(l.failure(err).err)
	}
	t.direct.Add(1)
	return scratch, true
}

// linkError is a failure of the current connection (as opposed to the end
// of the driving context).
type linkError struct{ err error }

func (e *linkError) Error() string { return e.err.Error() }
func (e *linkError) Unwrap() error { return e.err }

// failure wraps a write error as a *linkError. When the link already
// failed (watch saw the peer go away and closed the socket under the
// write), that first cause is the better explanation.
func (l *link) failure(err error) *linkError {
	if l.isDead() {
		return &linkError{l.deadErr}
	}
	return &linkError{err}
}

// mark records one flush: every frame with a sequence number <= seq has been
// written to the socket once end raw bytes (TLS records included) were
// written on this connection.
type mark struct {
	seq uint64
	end int64
	// ackedAt is when a poll first saw the server's TCP stack acknowledge
	// byte end (zero: not yet). The frames are confirmed confirmGrace later,
	// and only if the connection is still established then: a server that
	// dies with acknowledged but unread bytes in its receive buffer resets
	// the connection (RST), and that usually arrives within the grace, in
	// which case the frames are re-sent instead of confirmed.
	ackedAt time.Time
}

// link is one connection (or the stdout writer) and the state of what was
// written on it. The driver (the holder of the Shipper's owner token)
// writes; watch reads; check, run by the driver after each flush and by a
// timer of the link's own in between, polls and confirms.
type link struct {
	name         string       // endpoint, for errors
	conn         net.Conn     // *tls.Conn or *countingConn; nil for stdout
	tcp          *net.TCPConn // the socket under conn; nil for stdout and tests
	raw          syscall.RawConn
	bw           *bufio.Writer
	written      *atomic.Int64 // raw bytes written on this connection
	writeTimeout time.Duration
	grace        time.Duration

	dead     chan struct{} // closed by fail: the connection is unusable
	deadErr  error         // set before dead is closed
	failOnce sync.Once

	// wmu is held by whoever writes on the link: the driver, or a sender
	// (see streamTransport.writeNow). It guards the fields below.
	wmu            sync.Mutex
	sentSeq        uint64    // highest sequence number written to bw on this link
	firstUnflushed time.Time // when bw went from empty to non-empty; zero if empty

	// confirm, closing and the marks' confirmation: check holds checkMu,
	// so that confirmations never overlap and come in order.
	checkMu  sync.Mutex
	confirm  func(seq uint64) // nil until startAck; after shutdown, nothing is confirmed
	closing  func() bool      // Close waits for the window to drain: no laziness
	stopped  bool
	progress atomic.Bool // something was confirmed on this link

	// Shared by the driver (appends) and check (consumes).
	mu        sync.Mutex
	marks     fifo.Queue[mark] // flushes not yet confirmed, oldest first
	ackedEnd  int64            // end of the newest mark seen acknowledged
	pollDelay time.Duration
	timer     *time.Timer  // runs check at timerAt; nil until the first flush
	timerAt   time.Time    // zero when the timer is not armed
	timerRuns atomic.Int64 // checks the timer ran: the wake-ups confirmation cost
}

// countingConn counts the bytes written to the TCP socket. It sits under
// tls.Client, so TLS record overhead is counted too, which is what SIOCOUTQ
// measures. With raw set, it writes with raw write(2) calls (see
// rawWrite).
type countingConn struct {
	net.Conn
	raw   syscall.RawConn // the socket's, or nil: Conn.Write
	n     atomic.Int64
	total *atomic.Uint64
}

func (c *countingConn) Write(p []byte) (int, error) {
	var n int
	var err error
	if c.raw != nil {
		n, err = rawWrite(c.raw, p)
	} else {
		n, err = c.Conn.Write(p)
	}
	c.n.Add(int64(n))
	c.total.Add(uint64(n))
	return n, err
}

// countingWriter is countingConn for the stdout writer.
type countingWriter struct {
	w     io.Writer
	n     atomic.Int64
	total *atomic.Uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	c.total.Add(uint64(n))
	return n, err
}

func newLink(name string, w io.Writer, written *atomic.Int64) *link {
	return &link{
		name:      name,
		bw:        bufio.NewWriterSize(w, bufferSize),
		written:   written,
		dead:      make(chan struct{}),
		pollDelay: pollMin,
	}
}

// newNetLink wraps an established connection. conn is what frames are
// written to (a *tls.Conn over cc, or cc itself); tcp is the socket under
// it, used to read the unacknowledged byte count, or nil (then frames are
// confirmed after their flush, as on non-Linux systems). It starts the
// goroutine that watches for a dead peer.
func newNetLink(name string, conn net.Conn, cc *countingConn, tcp *net.TCPConn, writeTimeout time.Duration) (*link, error) {
	l := newLink(name, conn, &cc.n)
	l.conn, l.tcp, l.writeTimeout, l.grace = conn, tcp, writeTimeout, confirmGrace
	if tcp != nil && ackTracking {
		raw, err := tcp.SyscallConn()
		if err != nil {
			return nil, fmt.Errorf("raw socket: %w", err)
		}
		l.raw = raw
	}
	go l.watch()
	return l, nil
}

// newStdoutLink writes to w. Frames are confirmed as soon as their flush
// returned.
func newStdoutLink(w io.Writer, total *atomic.Uint64) *link {
	cw := &countingWriter{w: w, total: total}
	return newLink("stdout", cw, &cw.n)
}

// watch reads from the connection until something happens. A GELF TCP input
// never sends anything, so any read result (EOF, bytes, an error, a TLS
// alert such as "certificate required") means the connection is dead. This
// is how a peer close is noticed before writing into it (go-gelf loses the
// first message written after a close). tls.Conn handles post-handshake
// messages (session tickets) inside Read without returning.
func (l *link) watch() {
	var buf [512]byte
	n, err := l.conn.Read(buf[:])
	switch {
	case n > 0:
		err = fmt.Errorf("server sent %d unexpected bytes (a GELF input never sends data)", n)
	case errors.Is(err, io.EOF):
		err = errors.New("server closed the connection")
	case err == nil:
		err = errors.New("empty read")
	}
	l.fail(fmt.Errorf("read from %s: %w", l.name, err))
}

// fail marks the link dead with err (the first reason wins) and closes the
// socket, so a write blocked in it returns at once.
func (l *link) fail(err error) {
	l.failOnce.Do(func() {
		l.deadErr = err
		close(l.dead)
	})
	l.kill()
}

// isDead reports whether the link failed.
func (l *link) isDead() bool {
	select {
	case <-l.dead:
		return true
	default:
		return false
	}
}

func (l *link) setDeadline() error {
	if l.conn == nil {
		return nil
	}
	if err := l.conn.SetWriteDeadline(time.Now().Add(l.writeTimeout)); err != nil {
		return fmt.Errorf("set write deadline on %s: %w", l.name, err)
	}
	return nil
}

// writeFrame buffers one frame (message + delimiter). A frame that does not
// fit in the free buffer space first flushes what is buffered, so the
// buffer never flushes in the middle of a frame on its own; a frame larger
// than the whole buffer is written straight through. Every write that
// reaches the socket has a deadline.
func (l *link) writeFrame(f []byte, seq uint64) error {
	if len(f) > l.bw.Available() && l.bw.Buffered() > 0 {
		if err := l.flush(); err != nil {
			return err
		}
	}
	if len(f) > l.bw.Available() { // larger than the buffer: bufio writes it through
		if err := l.setDeadline(); err != nil {
			return err
		}
		if _, err := l.bw.Write(f); err != nil {
			return fmt.Errorf("write to %s: %w", l.name, err)
		}
		l.sentSeq = seq
		l.markFlushed()
		return nil
	}
	if l.bw.Buffered() == 0 {
		l.firstUnflushed = time.Now()
	}
	_, _ = l.bw.Write(f) // fits: only copies (a previous error already failed the link)
	l.sentSeq = seq
	return nil
}

// flush writes the buffered frames to the socket, with a deadline, and
// records their mark.
func (l *link) flush() error {
	if l.bw.Buffered() == 0 {
		return nil
	}
	if err := l.setDeadline(); err != nil {
		return err
	}
	if err := l.bw.Flush(); err != nil {
		return fmt.Errorf("write to %s: %w", l.name, err)
	}
	l.markFlushed()
	return nil
}

// markFlushed records that every frame up to sentSeq reached the socket,
// and looks at once at what the server acknowledged (check): at a steady
// rate, the flush of a batch is what confirms the batches before it, with
// no wake-up of its own.
func (l *link) markFlushed() {
	l.firstUnflushed = time.Time{}
	end := l.written.Load()
	l.mu.Lock()
	l.marks.Push(mark{seq: l.sentSeq, end: end})
	l.mu.Unlock()
	l.check()
}

// check confirms the frames the server received (see poll) and arms the
// link's timer for the next look, when there is something left to
// confirm. It runs on the driver after each flush, and on the timer. A
// poll error fails the link.
func (l *link) check() {
	l.checkMu.Lock()
	defer l.checkMu.Unlock()
	if l.stopped || l.confirm == nil {
		return
	}
	now := time.Now()
	seq, next, err := l.poll(now, l.closing())
	if err != nil {
		l.fail(err)
		return
	}
	if seq > 0 {
		l.progress.Store(true)
		l.confirm(seq)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// The timer is moved to the next look, later too: moving a timer
	// wakes nothing, and at a steady rate the next flush comes first.
	switch {
	case next.IsZero():
		if l.timer != nil && !l.timerAt.IsZero() {
			l.timer.Stop()
			l.timerAt = time.Time{}
		}
	case l.timer == nil:
		l.timer = time.AfterFunc(next.Sub(now), l.timerCheck)
		l.timerAt = next
	case !next.Equal(l.timerAt):
		l.timer.Reset(next.Sub(now))
		l.timerAt = next
	}
}

// timerCheck is check run by the link's timer.
func (l *link) timerCheck() {
	l.timerRuns.Add(1)
	l.check()
}

// poll checks how much of what was flushed the server acknowledged and
// returns the highest sequence number that is now confirmed (0: none), and
// when to look again (zero: nothing left to look at). Confirmed means: the
// server's TCP stack acknowledged the frame's last byte (on Linux, bytes
// written − SIOCOUTQ), at least l.grace ago, and the connection is still
// established and has not failed.
//
// The next look is, while kickBytes or more are not seen acknowledged (a
// backlog) or nothing is acknowledged yet, a poll after pollDelay, which
// doubles from pollMin to pollMax while nothing changes; else the end of
// the grace of the oldest acknowledged mark, or lazyConfirm after it when
// not draining: the next flush looks before then.
func (l *link) poll(now time.Time, draining bool) (seq uint64, next time.Time, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.marks.Len() == 0 {
		return 0, time.Time{}, nil
	}
	acked := l.written.Load()
	established := true
	if l.raw != nil {
		outq, est, err := unackedBytes(l.raw)
		if err != nil {
			if l.isDead() { // closed under us: not a new failure
				return 0, time.Time{}, nil
			}
			return 0, time.Time{}, fmt.Errorf("check send queue of %s: %w", l.name, err)
		}
		acked -= int64(outq)
		established = est
	}
	if !established {
		// Closed or reset by the server: confirm nothing more. watch
		// reports the failure with its cause (EOF, reset, TLS alert).
		return 0, now.Add(pollMax), nil
	}
	progress := false
	for i := range l.marks.Len() {
		m := l.marks.At(i)
		if !m.ackedAt.IsZero() {
			continue
		}
		if m.end > acked {
			break
		}
		m.ackedAt = now
		l.ackedEnd = m.end
		progress = true
	}
	n := 0
	if !l.isDead() {
		for n < l.marks.Len() && !l.marks.At(n).ackedAt.IsZero() && now.Sub(l.marks.At(n).ackedAt) >= l.grace {
			n++
		}
	}
	if n > 0 {
		seq = l.marks.At(n - 1).seq
		l.marks.Drop(n)
	}
	if l.marks.Len() == 0 {
		l.pollDelay = pollMin
		return seq, time.Time{}, nil
	}
	if progress || n > 0 {
		l.pollDelay = pollMin
	} else {
		l.pollDelay = min(2*l.pollDelay, pollMax)
	}
	back := l.marks.Back()
	front := l.marks.Front()
	if back.end-l.ackedEnd >= kickBytes || front.ackedAt.IsZero() {
		return seq, now.Add(l.pollDelay), nil
	}
	next = front.ackedAt.Add(l.grace)
	if !draining {
		next = next.Add(lazyConfirm)
	}
	if back.ackedAt.IsZero() {
		next = minTime(next, now.Add(l.pollDelay))
	}
	return seq, next, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// startAck makes the link confirm what the server receives: confirm gets
// the highest confirmed sequence number, and closing says whether Close
// waits for the window to drain (confirmations then come as soon as their
// grace ends).
func (l *link) startAck(confirm func(seq uint64), closing func() bool) {
	l.checkMu.Lock()
	l.confirm, l.closing = confirm, closing
	l.checkMu.Unlock()
}

// shutdown stops the confirmations and waits for a check in progress, so
// nothing is confirmed on this link afterwards.
func (l *link) shutdown() {
	l.checkMu.Lock()
	l.stopped = true
	l.checkMu.Unlock()
	l.mu.Lock()
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
}

// interrupt makes a write in progress fail now (used when the driving
// context ends). A write that times out leaves a TLS connection unusable,
// but the write error already makes the driver drop the link; when no
// write is in progress nothing breaks, because every write sets a fresh
// deadline first.
func (l *link) interrupt() {
	if l.conn != nil {
		_ = l.conn.SetWriteDeadline(time.Unix(1, 0))
	}
}

// kill closes the socket without a TLS close_notify (which could block on
// a full send buffer). It unblocks watch.
func (l *link) kill() {
	switch {
	case l.tcp != nil:
		_ = l.tcp.Close()
	case l.conn != nil:
		_ = l.conn.Close()
	}
}

// closeGracefully ends a connection whose frames are all confirmed: a TLS
// close_notify, then the socket. The send queue is empty, so the alert
// cannot block.
func (l *link) closeGracefully() error {
	if l.conn == nil {
		return nil
	}
	if err := l.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		l.kill()
		return fmt.Errorf("close connection to %s: %w", l.name, err)
	}
	l.kill()
	return nil
}

// dialNet connects to the endpoint: TCP with a bounded dial, keepalive and
// TCP_USER_TIMEOUT, then the TLS handshake for tls://. The whole connect is
// bounded by DialTimeout.
func (s *Shipper) dialNet(ctx context.Context) (*link, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	d := net.Dialer{
		Timeout:   s.cfg.DialTimeout,
		KeepAlive: keepAlive,
		Control: func(_, _ string, c syscall.RawConn) error {
			return setUserTimeout(c, s.cfg.WriteTimeout)
		},
	}
	c, err := d.DialContext(ctx, "tcp", s.ep.addr())
	if err != nil {
		return nil, err
	}
	tcp, ok := c.(*net.TCPConn)
	if !ok { // cannot happen with network "tcp"
		_ = c.Close()
		return nil, fmt.Errorf("dial returned %T, not a TCP connection", c)
	}
	cc := &countingConn{Conn: tcp, total: &s.bytesWritten}
	if raw, err := tcp.SyscallConn(); err == nil && rawWrites {
		cc.raw = raw
	}
	var conn net.Conn = cc
	if s.tls != nil {
		tc := tls.Client(cc, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = tcp.Close()
			return nil, err
		}
		conn = tc
	}
	l, err := newNetLink(s.ep.String(), conn, cc, tcp, s.cfg.WriteTimeout)
	if err != nil {
		_ = tcp.Close()
		return nil, err
	}
	return l, nil
}
