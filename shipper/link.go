package shipper

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Why not go-gelf's TCPWriter (github.com/Graylog2/go-gelf, v2 branch tip
// 1550ee6, tcpwriter.go): it dials with plain net.Dial, so
// there is no TLS (LDP's GELF input is TLS on 12202) and no dial timeout; it
// never sets a write deadline, so a server that stops reading blocks Write
// forever while holding its mutex; after the peer closes, the next Write
// returns nil and the message is silently lost (reproduced: msg1..msg4 all
// err=nil, server got msg1, msg3, msg4); on reconnect it assigns a new conn
// without closing the old one (fd leak until the GC finalizer); it sleeps
// ReconnectDelay×1s with the mutex held, races Close against reconnect, and
// re-dials after Close. It also writes one syscall per message. The link
// below replaces it: bounded dial, TLS ≥ 1.2, deadlines, batching, a reader
// that notices a dead peer, and confirmation by TCP acknowledgement.

const (
	bufferSize = 64 << 10         // bufio.Writer size: many frames per syscall / TLS record
	keepAlive  = 15 * time.Second // TCP keepalive idle and interval
	pollMin    = 2 * time.Millisecond
	pollMax    = 50 * time.Millisecond
	// confirmGrace is how long after the server's TCP stack acknowledged
	// bytes the connection must stay up before they count as received (see
	// mark.ackedAt and the Shipper doc). It catches a server that crashes
	// with acknowledged bytes it has not read yet, when it crashes within
	// the grace: a server that reads as data arrives (Graylog's inputs do)
	// holds a byte unread for far less. A longer grace would catch a
	// server that stalls longer before crashing, at the price of a lower
	// throughput ceiling (about window_bytes per grace) or a larger window.
	confirmGrace = 25 * time.Millisecond
)

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
// written on it. Three goroutines use it: the driver (the holder of the
// Shipper's owner token) writes; watch reads; ack polls and confirms.
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

	// Driver only.
	sentSeq        uint64    // highest sequence number written to bw on this link
	firstUnflushed time.Time // when bw went from empty to non-empty; zero if empty

	// Shared by the driver (appends) and ack (consumes).
	mu       sync.Mutex
	marks    []mark        // flushes not yet confirmed, ascending
	kick     chan struct{} // capacity 1: a new mark
	stop     chan struct{} // closed by shutdown: ack returns
	stopOnce sync.Once
	ackDone  chan struct{} // closed when ack returned; nil if ack never started
	progress atomic.Bool   // something was confirmed on this link

	// ack only.
	pollDelay time.Duration
	nextPoll  time.Time
}

// countingConn counts the bytes written to the TCP socket. It sits under
// tls.Client, so TLS record overhead is counted too, which is what SIOCOUTQ
// measures.
type countingConn struct {
	net.Conn
	n     atomic.Int64
	total *atomic.Uint64
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
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
		kick:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
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
// and wakes ack.
func (l *link) markFlushed() {
	l.firstUnflushed = time.Time{}
	l.mu.Lock()
	l.marks = append(l.marks, mark{seq: l.sentSeq, end: l.written.Load()})
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// ack confirms flushed frames as the server acknowledges them, calling
// confirm with the highest confirmed sequence number. It runs in its own
// goroutine, so confirmation goes on while the driver is blocked in a write
// (a server that reads slowly). It returns when the link fails or is shut
// down; a poll error fails the link.
func (l *link) ack(confirm func(seq uint64)) {
	defer close(l.ackDone)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		seq, err := l.poll(time.Now())
		if err != nil {
			l.fail(err)
			return
		}
		if seq > 0 {
			l.progress.Store(true)
			confirm(seq)
		}
		var tc <-chan time.Time
		if !l.nextPoll.IsZero() {
			t.Reset(max(time.Until(l.nextPoll), 0))
			tc = t.C
		}
		select {
		case <-l.stop:
			return
		case <-l.dead:
			return
		case <-l.kick:
			l.pollDelay = pollMin
		case <-tc:
		}
		t.Stop()
	}
}

// poll checks how much of what was flushed the server acknowledged and
// returns the highest sequence number that is now confirmed (0: none).
// Confirmed means: the server's TCP stack acknowledged the frame's last
// byte (on Linux, bytes written − SIOCOUTQ), at least l.grace ago, and the
// connection is still established and has not failed. It sets nextPoll
// (zero: nothing to wait for).
func (l *link) poll(now time.Time) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nextPoll = time.Time{}
	if len(l.marks) == 0 {
		return 0, nil
	}
	acked := l.written.Load()
	established := true
	if l.raw != nil {
		outq, est, err := unackedBytes(l.raw)
		if err != nil {
			if l.isDead() { // closed under us: not a new failure
				return 0, nil
			}
			return 0, fmt.Errorf("check send queue of %s: %w", l.name, err)
		}
		acked -= int64(outq)
		established = est
	}
	if !established {
		// Closed or reset by the server: confirm nothing more. watch
		// reports the failure with its cause (EOF, reset, TLS alert).
		l.nextPoll = now.Add(pollMax)
		return 0, nil
	}
	progress := false
	for i := range l.marks {
		m := &l.marks[i]
		if !m.ackedAt.IsZero() {
			continue
		}
		if m.end > acked {
			break
		}
		m.ackedAt = now
		progress = true
	}
	n := 0
	if !l.isDead() {
		for n < len(l.marks) && !l.marks[n].ackedAt.IsZero() && now.Sub(l.marks[n].ackedAt) >= l.grace {
			n++
		}
	}
	var seq uint64
	if n > 0 {
		seq = l.marks[n-1].seq
		l.marks = l.marks[:copy(l.marks, l.marks[n:])]
	}
	if progress || n > 0 {
		l.pollDelay = pollMin
	} else {
		l.pollDelay = min(2*l.pollDelay, pollMax)
	}
	for _, m := range l.marks {
		if m.ackedAt.IsZero() { // something is still unacknowledged: poll the socket again
			l.nextPoll = now.Add(l.pollDelay)
			break
		}
	}
	if len(l.marks) > 0 && !l.marks[0].ackedAt.IsZero() { // the first grace expiry
		if t := l.marks[0].ackedAt.Add(l.grace); l.nextPoll.IsZero() || t.Before(l.nextPoll) {
			l.nextPoll = t
		}
	}
	return seq, nil
}

// startAck starts the ack goroutine.
func (l *link) startAck(confirm func(seq uint64)) {
	l.ackDone = make(chan struct{})
	go l.ack(confirm)
}

// shutdown stops ack and waits until it returned, so nothing is confirmed
// on this link afterwards.
func (l *link) shutdown() {
	l.stopOnce.Do(func() { close(l.stop) })
	if l.ackDone != nil {
		<-l.ackDone
	}
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

// connectError wraps a dial or handshake error with the endpoint and, for
// the usual mistakes, a hint naming the setting to check.
func (s *Shipper) connectError(err error) error {
	hint := ""
	var (
		unknownCA x509.UnknownAuthorityError
		badHost   x509.HostnameError
		invalid   x509.CertificateInvalidError
		recHdr    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknownCA):
		if s.cfg.CACert != "" {
			hint = fmt.Sprintf(" (is ca_cert %s the CA that signed the server certificate?)", s.cfg.CACert)
		} else {
			hint = " (set ca_cert to the CA that signed the server certificate)"
		}
	case errors.As(err, &badHost):
		hint = " (set tls_server_name if the server certificate is issued for another name)"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		hint = " (check the server certificate dates and the local clock)"
	case errors.As(err, &recHdr):
		hint = " (the server does not speak TLS: is this a plain tcp:// input?)"
	case isRemoteCertAlert(err):
		if s.cfg.ClientCert == "" {
			hint = " (the server may require a client certificate: set client_cert and client_key)"
		} else {
			hint = fmt.Sprintf(" (the server rejected client_cert %s?)", s.cfg.ClientCert)
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		hint = " (is the GELF input listening on that port?)"
	}
	return fmt.Errorf("connect %s: %w%s", s.ep, err, hint)
}

// isRemoteCertAlert reports a TLS alert from the server about our
// certificate ("remote error: tls: certificate required", "... bad
// certificate"). crypto/tls returns remote alerts as a *net.OpError with Op
// "remote error" around an unexported type, so the text is all there is.
func isRemoteCertAlert(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && ne.Op == "remote error" && ne.Err != nil &&
		strings.Contains(ne.Err.Error(), "certificate")
}
