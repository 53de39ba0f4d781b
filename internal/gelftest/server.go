// Package gelftest provides a GELF TCP/TLS server and a throw-away PKI for
// tests: a real listener on 127.0.0.1 that splits the stream on NUL bytes
// and records every frame, and that can be told to misbehave (stop
// reading, reset or close its connections, go down and come back on the
// same port).
//
// It lives outside internal/ so that other packages' tests (for example the
// command's end-to-end tests) can use it. It imports testing and is meant
// for tests only.
package gelftest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// Options configures a Server. The zero value is a plain TCP server.
type Options struct {
	// TLS, when set, makes the server speak TLS with this configuration
	// (see PKI.ServerTLS).
	TLS *tls.Config
	// RecvBuffer, when > 0, is set as SO_RCVBUF on the listening socket,
	// so accepted connections inherit it (Linux doubles the value). A small
	// buffer makes a server that stops reading exert backpressure quickly.
	RecvBuffer int
	// Addr is the address to listen on; default "127.0.0.1:0" (a free
	// port). Set it to another server's Addr to replace that server.
	Addr string
	// CountOnly makes the server count frames without keeping them
	// (Messages returns nothing; Count still counts), for benchmarks.
	CountOnly bool
	// Latencies makes the server record, for every complete frame whose
	// GELF "timestamp" it can read (see Server.Latencies), the time the
	// read that completed the frame returned minus that timestamp: how
	// old the event was when it arrived. It works with and without
	// CountOnly.
	Latencies bool
}

// Server is a GELF TCP (or TLS) input for tests. Its methods are safe for
// concurrent use; the ones taking a testing.TB must be called from the test
// goroutine.
type Server struct {
	opts Options
	addr string

	inbox               // the frames; its mu guards the fields below too
	cond      sync.Cond // reading resumed or a connection closed
	ln        net.Listener
	conns     map[*serverConn]struct{}
	partial   int
	accepted  int
	paused    bool
	hsErrs    []string
	latencies []time.Duration // with Options.Latencies
	wg        sync.WaitGroup
	closed    bool
	listening bool
}

type serverConn struct {
	tcp  *net.TCPConn
	mode closeMode     // under Server.mu
	done chan struct{} // closed when serve returned
}

// closeMode says how the server ends a connection.
type closeMode int

const (
	open       closeMode = iota
	drainClose           // read what already arrived, then close (FIN)
	drainReset           // read what already arrived, then RST
	abort                // RST now, unread bytes are discarded
)

// Draining reads until nothing arrives for drainIdle, and for at most
// drainMax (a client that keeps writing is cut off then).
const (
	drainIdle = 5 * time.Millisecond
	drainMax  = 50 * time.Millisecond
)

// NewServer starts a server on 127.0.0.1, on a free port unless
// opts.Addr says otherwise. It is stopped by t.Cleanup.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts, conns: map[*serverConn]struct{}{}}
	s.setup(opts.CountOnly, s.reportLocked)
	s.cond.L = &s.mu
	start(t, opts.Addr, s.listen, s.Close)
	return s
}

// Addr returns the listening address, host:port. It does not change across
// Stop and Restart.
func (s *Server) Addr() string { return s.addr }

// Port returns the listening port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	var n int
	_, _ = fmt.Sscan(p, &n)
	return n
}

// Endpoint returns the shipper endpoint for this server: tls://ADDR or
// tcp://ADDR.
func (s *Server) Endpoint() string {
	if s.opts.TLS != nil {
		return "tls://" + s.addr
	}
	return "tcp://" + s.addr
}

func (s *Server) listen(addr string) error {
	lc := net.ListenConfig{Control: controlRecvBuffer(s.opts.RecvBuffer)}
	ln, err := bind(addr, func(addr string) (net.Listener, error) {
		return lc.Listen(context.Background(), "tcp", addr)
	})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.addr = ln.Addr().String()
	s.listening = true
	s.mu.Unlock()
	s.wg.Add(1)
	go s.acceptLoop(ln)
	return nil
}

// bind calls listen until it succeeds, for 5 s at most, and returns its
// last result: Restart re-binds a port that was in use a moment ago, and
// the kernel may refuse it briefly.
func bind[L any](addr string, listen func(addr string) (L, error)) (L, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := listen(addr)
		if err == nil || time.Now().After(deadline) {
			return l, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start starts a new server: it listens with listen on addr, by default
// on a free port of 127.0.0.1, and registers cleanup (the server's Close)
// with t.Cleanup. It fails the test if listen fails.
func start(t testing.TB, addr string, listen func(addr string) error, cleanup func()) {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := listen(addr); err != nil {
		t.Fatalf("gelftest: %v", err)
	}
	t.Cleanup(cleanup)
}

// relisten is the end of Restart: it listens with listen on the server's
// addr again and fails the test if listen fails.
func relisten(t testing.TB, listen func(addr string) error, addr string) {
	t.Helper()
	if err := listen(addr); err != nil {
		t.Fatalf("gelftest: restart: %v", err)
	}
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		sc := &serverConn{tcp: c.(*net.TCPConn), done: make(chan struct{})}
		s.mu.Lock()
		if !s.listening || s.closed {
			s.mu.Unlock()
			_ = c.Close()
			continue
		}
		s.conns[sc] = struct{}{}
		s.accepted++
		s.signalLocked()
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(sc)
	}
}

// serve reads one connection: TLS handshake if configured, then frames,
// until the client goes away or the server closes the connection.
func (s *Server) serve(sc *serverConn) {
	defer s.wg.Done()
	defer close(sc.done)
	defer func() {
		s.mu.Lock()
		delete(s.conns, sc)
		s.signalLocked()
		s.mu.Unlock()
		_ = sc.tcp.Close()
	}()
	var c net.Conn = sc.tcp
	if s.opts.TLS != nil {
		tc := tls.Server(sc.tcp, s.opts.TLS)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			s.mu.Lock()
			s.hsErrs = append(s.hsErrs, err.Error())
			s.mu.Unlock()
			return
		}
		_ = tc.SetDeadline(time.Time{})
		c = tc
	}
	buf := make([]byte, 64<<10)
	var (
		pending    []byte
		drainStart time.Time
		lats       []time.Duration // this read's, with Options.Latencies
	)
	for {
		mode := s.waitReadable(sc)
		switch mode {
		case abort:
			return
		case drainClose, drainReset:
			now := time.Now()
			if drainStart.IsZero() {
				drainStart = now
			}
			if now.Sub(drainStart) > drainMax {
				s.finish(sc, mode)
				return
			}
			_ = c.SetReadDeadline(now.Add(drainIdle))
		}
		n, err := c.Read(buf)
		var arrived time.Time
		if s.opts.Latencies {
			arrived = time.Now()
		}
		data := buf[:n]
		var got [][]byte
		counted := 0
		lats = lats[:0]
		for {
			i := bytes.IndexByte(data, 0)
			if i < 0 {
				break
			}
			switch {
			case !s.opts.CountOnly: // kept: a frame of its own
				frame := append(pending, data[:i]...)
				got = append(got, frame)
				lats = appendLatency(lats, s.opts.Latencies, frame, arrived)
				pending = nil
			case s.opts.Latencies: // looked at, then dropped: pending is reused
				frame := data[:i]
				if len(pending) > 0 {
					frame = append(pending, frame...)
				}
				lats = appendLatency(lats, true, frame, arrived)
				counted++
				pending = pending[:0]
			default:
				counted++
				pending = nil
			}
			data = data[i+1:]
		}
		switch {
		case !s.opts.CountOnly || s.opts.Latencies:
			pending = append(pending, data...)
		case len(data) > 0 && len(pending) == 0:
			pending = []byte{1} // only "a frame is in progress" matters
		}
		timeout := errors.Is(err, os.ErrDeadlineExceeded)
		s.mu.Lock()
		s.msgs = append(s.msgs, got...) // the frames are kept,
		s.counted += counted            // or counted in CountOnly mode
		s.latencies = append(s.latencies, lats...)
		if err != nil && !timeout && len(pending) > 0 {
			s.partial++ // a torn frame: Graylog would emit it and fail to decode it
		}
		if len(got) > 0 || counted > 0 || err != nil {
			s.signalLocked()
		}
		mode = sc.mode
		s.mu.Unlock()
		switch {
		case err == nil:
		case timeout && mode == open: // woken by closeConns: drain now
		case timeout && (mode == drainClose || mode == drainReset): // nothing more arrived
			s.finish(sc, mode)
			return
		default: // EOF, reset, or closed by abort
			return
		}
	}
}

// finish ends a drained connection.
func (s *Server) finish(sc *serverConn, mode closeMode) {
	if mode == drainReset {
		_ = sc.tcp.SetLinger(0)
	}
	_ = sc.tcp.Close()
}

// waitReadable blocks while reading is stopped and the connection is open,
// and returns the connection's mode.
func (s *Server) waitReadable(sc *serverConn) closeMode {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.paused && sc.mode == open {
		s.cond.Wait()
	}
	return sc.mode
}

// signalLocked wakes the waiters of WaitFor (see inbox.signalLocked) and
// of s.cond.
func (s *Server) signalLocked() {
	s.inbox.signalLocked()
	s.cond.Broadcast()
}

// reportLocked says what the server got, for a wait that timed out.
func (s *Server) reportLocked() string {
	return fmt.Sprintf("got %d frames, %d connections accepted, %d open", len(s.msgs), s.accepted, len(s.conns))
}

// Messages returns a copy of every complete frame received so far (without
// the NUL delimiter), in arrival order across all connections.
func (s *Server) Messages() [][]byte { return s.messages() }

// Count returns the number of complete frames received so far.
func (s *Server) Count() int { return s.count() }

// Latencies returns a copy of the latencies recorded so far with
// Options.Latencies (none without it), in arrival order across all
// connections: for each complete frame, the time the read that completed
// it returned minus the time its "timestamp" field states. A frame
// without a "timestamp" number is counted but has no latency, so
// len(Latencies()) < Count() says that some could not be read.
func (s *Server) Latencies() []time.Duration {
	return locked(&s.inbox, func() []time.Duration { return slices.Clone(s.latencies) })
}

// Partial returns how many connections ended in the middle of a frame.
func (s *Server) Partial() int {
	return locked(&s.inbox, func() int { return s.partial })
}

// Accepted returns how many connections were accepted so far.
func (s *Server) Accepted() int {
	return locked(&s.inbox, func() int { return s.accepted })
}

// Open returns how many connections are currently open.
func (s *Server) Open() int {
	return locked(&s.inbox, func() int { return len(s.conns) })
}

// HandshakeErrors returns the TLS handshake errors seen so far.
func (s *Server) HandshakeErrors() []string {
	return locked(&s.inbox, func() []string { return append([]string(nil), s.hsErrs...) })
}

// WaitForCount waits until at least n complete frames arrived (Count >=
// n) and returns them (as Messages does). It fails the test after timeout.
func (s *Server) WaitForCount(t testing.TB, n int, timeout time.Duration) [][]byte {
	t.Helper()
	return s.waitForCount(t, n, timeout, "frames")
}

// WaitFor waits until cond returns true, checking it at first and after
// every change (a frame or a connection came or went). It fails the test
// after timeout, naming what (a description of the condition).
//
// cond is called with the frames received so far (none in CountOnly
// mode) while the server's lock is held: it must not retain or modify
// them, nor call the server's methods, which take that lock too.
func (s *Server) WaitFor(t testing.TB, timeout time.Duration, what string, cond func(frames [][]byte) bool) {
	t.Helper()
	s.waitFor(t, timeout, what, func() bool { return cond(s.msgs) })
}

// WaitForConnections waits until at least n connections were accepted.
func (s *Server) WaitForConnections(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	s.waitFor(t, timeout, fmt.Sprintf("%d accepted connections", n), func() bool { return s.accepted >= n })
}

// StopReading makes every connection stop reading (after the read in
// progress, if any). The kernel buffers then fill and the client's writes
// block: backpressure.
func (s *Server) StopReading() {
	s.mu.Lock()
	s.paused = true
	s.mu.Unlock()
}

// ResumeReading undoes StopReading.
func (s *Server) ResumeReading() {
	s.mu.Lock()
	s.paused = false
	s.cond.Broadcast()
	s.mu.Unlock()
}

// ResetAll resets every open connection with a TCP RST (SO_LINGER 0) after
// reading what already arrived (it reads until the connection is idle for
// 5 ms, 50 ms at most, even if reading is stopped): the connection dies
// but nothing the server's kernel acknowledged is lost, as when a
// middlebox or the network drops it. It returns when they are closed.
func (s *Server) ResetAll() { s.closeConns(drainReset) }

// AbortAll resets every open connection now, discarding the bytes the
// kernel acknowledged but the server did not read yet, as a crashing
// server does. A client without application-level acknowledgement can lose
// those bytes.
func (s *Server) AbortAll() { s.closeConns(abort) }

// CloseAll closes every open connection normally (FIN) after reading what
// already arrived, like ResetAll. It returns when they are closed.
func (s *Server) CloseAll() { s.closeConns(drainClose) }

func (s *Server) closeConns(mode closeMode) {
	s.mu.Lock()
	conns := make([]*serverConn, 0, len(s.conns))
	for sc := range s.conns {
		if sc.mode == open {
			sc.mode = mode
			conns = append(conns, sc)
		}
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	for _, sc := range conns {
		if mode == abort {
			_ = sc.tcp.SetLinger(0)
			_ = sc.tcp.Close()
		} else {
			_ = sc.tcp.SetReadDeadline(time.Now()) // wake a blocked Read
		}
	}
	for _, sc := range conns {
		<-sc.done
	}
}

// Stop takes the server down: it closes the listener, so new connections
// are refused, and closes every connection (see CloseAll). It
// returns once every server goroutine has ended, so Messages is final.
func (s *Server) Stop() {
	s.mu.Lock()
	ln := s.ln
	s.listening = false
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	s.CloseAll()
	s.wg.Wait()
}

// Restart brings a stopped server back on the same address. Frames
// recorded before are kept.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	// Unlike UDPServer and HTTPServer, it does not refuse a closed server:
	// that one listens again but closes every connection it accepts.
	if locked(&s.inbox, func() bool { return s.listening }) {
		t.Fatalf("gelftest: Restart of a server that is up")
	}
	relisten(t, s.listen, s.addr)
}

// Close stops the server for good. NewServer registers it with t.Cleanup.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.Stop()
}
