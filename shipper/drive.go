package shipper

import (
	"context"
	"errors"
	"time"
)

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

// drive is the owner's loop. It returns nil once Close was called and the
// window is drained (the link is then closed gracefully), or ctx.Err().
// The caller holds the owner token.
func (s *Shipper) drive(ctx context.Context) error {
	switch {
	case s.ep.scheme == "udp":
		return s.driveUDP(ctx)
	case s.ep.isHTTP():
		return s.driveHTTP(ctx)
	}
	for {
		if s.drainedAfterClose() {
			s.finishLink()
			return nil
		}
		if s.link == nil {
			if err := s.connect(ctx, s.openLink); err != nil {
				return err
			}
			continue
		}
		err := s.pump(ctx)
		var le *linkError
		if errors.As(err, &le) {
			if ctx.Err() != nil { // most likely our own interruption of a write
				s.log.Debug().Err(le.err).Msg("connection dropped while stopping")
				s.dropLink(false)
				return ctx.Err()
			}
			s.linkLost(le.err)
			continue
		}
		if err != nil {
			return err
		}
	}
}

// connect calls open until it succeeds, waiting backoffDelay between
// attempts once something failed. open dials and, on success, installs
// the connection (a TCP/TLS link, or the UDP socket). connect returns nil
// with nothing installed when Close was called and the window is empty
// (nothing left to send).
func (s *Shipper) connect(ctx context.Context, open func(context.Context) error) error {
	for {
		if err := s.backoff(ctx); err != nil {
			return err
		}
		if s.drainedAfterClose() {
			return nil
		}
		s.down.attempts++
		err := open(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.down.start.IsZero() {
			s.down.start = time.Now()
		}
		s.fails++
		err = s.connectError(err)
		s.setLastErr(err)
		s.logFailure(err, "cannot connect; retrying")
	}
}

// openLink dials a TCP/TLS connection (or the stdout writer) and installs it.
func (s *Shipper) openLink(ctx context.Context) error {
	l, err := s.dial(ctx)
	if err == nil {
		s.useLink(l)
	}
	return err
}

// backoff waits before the next attempt when the last one failed.
func (s *Shipper) backoff(ctx context.Context) error {
	if s.fails == 0 {
		return nil
	}
	d := backoffDelay(s.fails-1, s.cfg.BackoffMin, s.cfg.BackoffMax, nil)
	s.log.Debug().Dur("delay", d).Int("failures", s.fails).Msg("waiting before the next attempt")
	return s.sleep(ctx, d)
}

// sleep waits for d, or less when Close leaves nothing to send.
func (s *Shipper) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case <-s.wake:
			if s.drainedAfterClose() {
				return nil
			}
		}
	}
}

// logFailure logs a connection failure at warn level when it is the first
// of an outage, when its cause changed, or every repeatLog; otherwise at
// debug level, so a long outage or a flapping server does not flood the
// log.
func (s *Shipper) logFailure(err error, msg string) {
	o := &s.down
	now := time.Now()
	key := rootCause(err)
	if o.lastMsg == key && now.Sub(o.lastLog) < repeatLog {
		s.log.Debug().Err(err).Int("attempts", o.attempts).Msg(msg)
		return
	}
	o.lastMsg, o.lastLog = key, now
	ev := s.log.Warn().Err(err).Int("unconfirmed", s.Stats().Unconfirmed)
	if o.attempts > 0 {
		ev = ev.Int("attempts", o.attempts).Dur("outage", now.Sub(o.start))
	}
	ev.Msg(msg)
}

// rootCause is the innermost error's text ("connection reset by peer"),
// which, unlike the full text, does not change with the local port.
func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// useLink installs a new connection: everything unconfirmed will be written
// again on it, in order. During an outage the recovery is logged once the
// new connection confirmed something (or right away if nothing is waiting),
// so a server that accepts and then drops every connection is not reported
// as recovered.
func (s *Shipper) useLink(l *link) {
	s.mu.Lock()
	l.sentSeq = s.confirmed
	unconfirmed := s.lastSeq - s.confirmed
	s.connected = true
	s.mu.Unlock()
	s.link = l
	l.startAck(s.confirm)
	s.connections++
	if s.connections > 1 {
		s.reconnects.Add(1)
	}
	o := &s.down
	switch {
	case o.start.IsZero():
		if s.ep.scheme != StdoutEndpoint {
			s.log.Info().Msg("connected")
		}
		*o = outage{}
	case unconfirmed == 0:
		o.upAt = time.Now()
		s.recovered()
	default:
		o.upAt = time.Now()
		s.log.Debug().Int("attempts", o.attempts).Uint64("resending", unconfirmed).Msg("connected; re-sending unconfirmed messages")
	}
}

// recovered logs the end of an outage.
func (s *Shipper) recovered() {
	o := &s.down
	verb := "reconnected"
	if s.connections == 1 {
		verb = "connected"
	}
	took := o.upAt.Sub(o.start).Round(time.Millisecond)
	s.log.Info().Int("attempts", o.attempts).Dur("outage", took).
		Msgf("%s after %d attempt%s and %s", verb, o.attempts, plural(o.attempts), took)
	*o = outage{}
}

// dropLink stops the current link's ack goroutine, closes the connection
// (with a TLS close_notify if graceful) and forgets the link.
func (s *Shipper) dropLink(graceful bool) {
	l := s.link
	l.shutdown()
	if graceful {
		if err := l.closeGracefully(); err != nil {
			s.log.Debug().Err(err).Msg("closing drained connection")
		}
	} else {
		l.kill()
	}
	s.link = nil
	s.mu.Lock()
	s.connected = false
	s.mu.Unlock()
}

// linkLost closes a failed connection and starts an outage.
func (s *Shipper) linkLost(err error) {
	if s.link.progress.Load() { // it worked for a while: start the backoff over
		s.fails = 0
	}
	s.dropLink(false)
	s.fails++
	s.setLastErr(err)
	if s.down.start.IsZero() {
		s.down.start = time.Now()
	}
	s.logFailure(err, "connection lost; reconnecting and re-sending unconfirmed messages")
}

// finishLink closes the link after the window was drained.
func (s *Shipper) finishLink() {
	s.finished = true
	if s.link == nil {
		return
	}
	s.dropLink(true)
	s.log.Info().Msg("all messages confirmed; connection closed")
}

// pump writes and flushes on the current link until the link fails
// (*linkError), ctx ends (ctx.Err()), or Close was called and the window is
// drained (nil). The link's ack goroutine confirms meanwhile.
func (s *Shipper) pump(ctx context.Context) error {
	l := s.link
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
	flushTimer := time.NewTimer(time.Hour)
	defer flushTimer.Stop()

	for {
		// Write what is pending, a bounded batch at a time.
		batch, first := s.pending(l.sentSeq, s.batch[:0])
		for i, f := range batch {
			seq := first + uint64(i)
			if err := l.writeFrame(f, seq); err != nil {
				clear(batch)
				return l.failure(err)
			}
			if seq <= s.maxWritten {
				s.resent.Add(1)
			} else {
				s.maxWritten = seq
			}
		}
		full := len(batch) == batchFrames
		clear(batch)
		s.batch = batch[:0]
		if !s.down.start.IsZero() && l.progress.Load() {
			s.recovered()
		}

		// Flush when due; when closing, right away.
		if l.bw.Buffered() > 0 && (s.isClosed() || time.Since(l.firstUnflushed) >= s.cfg.FlushInterval) {
			if err := l.flush(); err != nil {
				return l.failure(err)
			}
		}
		if s.drainedAfterClose() {
			return nil
		}

		if full { // more may be pending: only check for an interruption
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-l.dead:
				return &linkError{l.deadErr}
			default:
				continue
			}
		}

		// Sleep until the flush is due or something happens (a new
		// message, a confirmation, Close).
		var flushC <-chan time.Time
		if l.bw.Buffered() > 0 {
			flushTimer.Reset(max(time.Until(l.firstUnflushed.Add(s.cfg.FlushInterval)), 0))
			flushC = flushTimer.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.dead:
			return &linkError{l.deadErr}
		case <-s.wake:
		case <-flushC:
		}
		flushTimer.Stop()
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// connectOnce is Connect for udp:// (open the socket) and http(s)://
// (probe the server), with the same error reporting as a TCP connect.
func (s *Shipper) connectOnce(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.abortCtx, cancel)
	defer stop()
	if s.ep.scheme == "udp" {
		err := s.openUDP(ctx) // logs that the socket is ready
		if err != nil {
			err = s.connectError(err)
			s.setLastErr(err)
		}
		return err
	}
	if err := s.probeHTTP(ctx); err != nil {
		err = s.connectError(err)
		s.setLastErr(err)
		return err
	}
	s.setConnected(true)
	s.log.Info().Msg("connected")
	return nil
}
