package shipper

import (
	"context"
	"errors"
	"time"
)

// transport is what differs between the families of endpoints: how a
// message is framed, how the server is reached, and what confirms a
// message. Its methods are called by the owner of the Shipper (the
// goroutine holding the owner token), but frame, which any goroutine may
// call.
type transport interface {
	// frame checks msg and says what the window keeps for it (see framed).
	frame(msg []byte) (framed, error)
	// connect makes one connection attempt, for Shipper.Connect, and keeps
	// the connection; it reports errors as connectError does.
	connect(ctx context.Context) error
	// drive moves frames from the window to the server, reconnecting and
	// retrying as needed, until ctx ends (ctx.Err()) or Close was called
	// and the window is drained (nil).
	drive(ctx context.Context) error
	// shut releases the connection, gracefully (a TLS close_notify) when
	// everything was confirmed.
	shut(graceful bool)
}

// newTransport returns the transport of s's endpoint.
func newTransport(s *Shipper) transport {
	switch {
	case s.ep.scheme == "udp":
		return &udpTransport{s: s}
	case s.ep.isHTTP():
		return newHTTPTransport(s)
	case s.ep.scheme == StdoutEndpoint:
		return newStdoutTransport(s)
	}
	return &streamTransport{s: s, dial: s.dialNet}
}

// connectLoop calls open until it succeeds, waiting backoffDelay between
// attempts once something failed. It returns nil with nothing opened when
// Close was called and the window is empty (nothing left to send).
func (s *Shipper) connectLoop(ctx context.Context, open func(context.Context) error) error {
	for {
		if err := s.backoff(ctx); err != nil {
			return err
		}
		if s.win.drained() {
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
		case <-s.win.wake:
			if s.win.drained() {
				return nil
			}
		}
	}
}

// idle waits for new frames, Close, or the end of ctx.
func (s *Shipper) idle(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.win.wake:
		return nil
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

// connectedOnce records a new connection: the reconnect count, and the
// end of an outage in the log; unconfirmed is how many messages wait to be
// written again on it; logged is false for standard output, which is not
// a connection to speak of. During an outage of a stream connection the
// recovery is logged once the connection confirmed something (or right
// away if nothing is waiting), so a server that accepts and then drops
// every connection is not reported as recovered.
func (s *Shipper) connectedOnce(unconfirmed uint64, logged bool) {
	s.setConnected(true)
	s.connections++
	if s.connections > 1 {
		s.reconnects.Add(1)
	}
	o := &s.down
	switch {
	case o.start.IsZero():
		if logged {
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
	if s.connections <= 1 {
		verb = "connected"
	}
	took := o.upAt.Sub(o.start).Round(time.Millisecond)
	s.log.Info().Int("attempts", o.attempts).Dur("outage", took).
		Msgf("%s after %d attempt%s and %s", verb, o.attempts, plural(o.attempts), took)
	*o = outage{}
}

// progressed records a successful write or request of a transport that
// learns of delivery at once (udp://, http(s)://): an outage ends, and
// every message up to last is confirmed.
func (s *Shipper) progressed(last uint64) {
	s.fails = 0
	s.setConnected(true)
	if !s.down.start.IsZero() {
		s.down.upAt = time.Now()
		s.recovered()
	}
	s.win.confirm(last)
}

// attemptFailed records a failed write or request (udp://, http(s)://):
// it starts or extends an outage and logs it once.
func (s *Shipper) attemptFailed(err error, msg string) {
	s.fails++
	s.down.attempts++
	s.setConnected(false)
	if s.down.start.IsZero() {
		s.down.start = time.Now()
	}
	s.setLastErr(err)
	s.logFailure(err, msg)
}

// noteWritten counts the frames first..first+n-1, written now, as re-sends
// when they were written before. Writes never overlap (the owner token, or
// a link's wmu), but may come from a sender (see writeNow): maxWritten is
// atomic for that.
func (s *Shipper) noteWritten(first uint64, n int) {
	if n <= 0 {
		return
	}
	last := first + uint64(n) - 1
	if prev := s.maxWritten.Load(); first <= prev {
		s.resent.Add(min(prev, last) - first + 1)
	}
	if last > s.maxWritten.Load() {
		s.maxWritten.Store(last)
	}
}
