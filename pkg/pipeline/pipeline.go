// Package pipeline moves audit events from the log file to the log server.
//
// One loop on one goroutine pulls a line, parses it, maps it to GELF and hands
// it to the shipper. The line's position goes into a FIFO keyed by the
// shipper's sequence number; only when the shipper confirms that sequence
// number (the server's TCP stack acknowledged the bytes) is the position
// marked in the checkpoint. So the checkpoint never moves past an event the
// server has not received, and while the server is slow or down the shipper's
// bounded window fills, Send blocks, and the file on disk is the buffer.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/pkg/audit"
	"github.com/audittail/audittail/pkg/gelf"
	"github.com/audittail/audittail/tailer"
	"github.com/rs/zerolog"
)

// source yields lines of the audit log with their checkpoint positions.
type source interface {
	Next(ctx context.Context) (tailer.Line, error)
}

// sender delivers encoded GELF messages. A nil error means the message will
// be delivered at least once; its sequence number is confirmed later.
type sender interface {
	Send(ctx context.Context, msg []byte) (uint64, error)
}

// marker records how far the file has been handled.
type marker interface {
	Mark(checkpoint.Position)
}

// Stats are the pipeline's counters.
type Stats struct {
	Lines         uint64 // lines read
	Sent          uint64 // messages handed to the shipper
	Confirmed     uint64 // messages confirmed by the server
	Bytes         uint64 // bytes of GELF handed to the shipper
	ParseErrors   uint64 // lines that were not valid audit events (shipped flagged)
	Partial       uint64 // unterminated ends of rotated files (shipped flagged)
	LongLines     uint64 // lines cut at max_line_bytes (shipped flagged)
	Truncated     uint64 // messages cut to max_message_bytes
	SkippedBlank  uint64 // empty lines (nothing to ship)
	LastConfirmed time.Time
}

// Pipeline is the forward path. Run must be called once; OnConfirm is safe
// to call from another goroutine.
type Pipeline struct {
	src  source
	enc  *gelf.Encoder
	out  sender
	ckpt marker
	log  zerolog.Logger

	ev  audit.Event
	rec gelf.Record
	buf []byte

	mu        sync.Mutex
	pending   []pendingPos // FIFO of positions waiting for their message's confirmation
	head      int
	lastSeq   uint64 // sequence number of the last message sent
	confirmed uint64 // highest sequence number confirmed

	lines, sent, confirmedN, bytes                     atomic.Uint64
	parseErrors, partial, longLines, truncated, blanks atomic.Uint64
	lastConfirmed                                      atomic.Int64

	parseLog rateLimit
}

type pendingPos struct {
	seq uint64
	pos checkpoint.Position
}

// New wires a pipeline. Call OnConfirm from the shipper's confirmation callback.
func New(src source, enc *gelf.Encoder, out sender, ckpt marker, log zerolog.Logger) *Pipeline {
	return &Pipeline{src: src, enc: enc, out: out, ckpt: ckpt, log: log, parseLog: rateLimit{every: 10 * time.Second}}
}

// Run moves lines until ctx ends or reading fails. It returns ctx.Err() on
// shutdown. Positions of messages sent but not yet confirmed stay pending; the
// caller closes the shipper, whose confirmations still mark them.
func (p *Pipeline) Run(ctx context.Context) error {
	for {
		line, err := p.src.Next(ctx)
		if err != nil {
			return err
		}
		p.lines.Add(1)
		if len(line.Text) == 0 && !line.Partial {
			p.blanks.Add(1)
			p.skip(line.Pos)
			continue
		}
		p.rec = gelf.Record{
			Line:          line.Text,
			Source:        line.Source,
			Offset:        line.Start,
			Partial:       line.Partial,
			LineTruncated: line.Truncated,
			LineSize:      line.Size,
		}
		if err := audit.Parse(line.Text, &p.ev); err != nil {
			p.rec.ParseErr = err
			p.parseErrors.Add(1)
			if p.parseLog.allow() {
				p.log.Warn().Str("file", line.Source).Int64("offset", line.Start).Int64("size", line.Size).
					Str("reason", err.Error()).Msg("line is not a valid audit event; shipping it raw, flagged _parse_error")
			}
		} else {
			p.rec.Event = &p.ev
		}
		if line.Partial {
			p.partial.Add(1)
		}
		if line.Truncated {
			p.longLines.Add(1)
			p.log.Warn().Str("file", line.Source).Int64("offset", line.Start).Int64("size", line.Size).
				Msg("line longer than tail.max_line_bytes; shipping its start, flagged _line_truncated_bool")
		}
		if err := p.ship(ctx, line.Pos); err != nil {
			return err
		}
	}
}

// tooLarge is implemented by a sender's error for a message the transport
// cannot carry at its size (for example more than 128 UDP chunks once
// compressed). size and limit are in the transport's unit.
type tooLarge interface {
	TooLarge() (size, limit int)
}

// ship encodes p.rec and sends it. A message the transport refuses as too
// large is encoded again with a smaller cap (the encoder cuts in its
// documented order, flagging _truncated_bool) until it fits: never dropped.
func (p *Pipeline) ship(ctx context.Context, pos checkpoint.Position) error {
	var res gelf.Result
	p.buf, res = p.enc.Encode(p.buf[:0], &p.rec)
	for {
		err := p.send(ctx, pos)
		var tl tooLarge
		if !errors.As(err, &tl) {
			if err == nil && res.Truncated {
				p.truncated.Add(1)
			}
			return err
		}
		cur := len(p.buf)
		if cur <= gelf.MinMaxMessageBytes {
			return fmt.Errorf("pipeline: even a %d-byte message is too large: %w", cur, err)
		}
		size, limit := tl.TooLarge()
		// Shrink in proportion, with a margin; at least by a tenth so the
		// loop ends.
		next := int(int64(cur) * int64(limit) / int64(max(size, 1)) * 9 / 10)
		next = max(min(next, cur-cur/10), gelf.MinMaxMessageBytes)
		p.log.Debug().Err(err).Int("size", cur).Int("new_limit", next).Msg("message too large for the transport; encoding it smaller")
		p.buf, res = p.enc.EncodeLimit(p.buf[:0], &p.rec, next)
	}
}

// send hands p.buf to the shipper and queues pos behind its sequence number.
func (p *Pipeline) send(ctx context.Context, pos checkpoint.Position) error {
	p.mu.Lock()
	seq := p.lastSeq + 1
	p.pending = append(p.pending, pendingPos{seq: seq, pos: pos})
	p.mu.Unlock()

	got, err := p.out.Send(ctx, p.buf)
	if err != nil {
		p.mu.Lock()
		p.pending = p.pending[:len(p.pending)-1]
		p.mu.Unlock()
		return err
	}
	if got != seq {
		return fmt.Errorf("pipeline: shipper numbered message %d, expected %d", got, seq)
	}
	p.mu.Lock()
	p.lastSeq = seq
	p.mu.Unlock()
	p.sent.Add(1)
	p.bytes.Add(uint64(len(p.buf)))
	return nil
}

// skip advances past a line that produced no message, once every message
// before it is confirmed.
func (p *Pipeline) skip(pos checkpoint.Position) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.head == len(p.pending) && p.confirmed == p.lastSeq {
		p.ckpt.Mark(pos)
		return
	}
	p.pending = append(p.pending, pendingPos{seq: p.lastSeq, pos: pos})
}

// OnConfirm is the shipper's callback: every message with a sequence number up
// to seq has been received by the server. It marks the newest position whose
// messages are all confirmed.
func (p *Pipeline) OnConfirm(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq <= p.confirmed {
		return
	}
	p.confirmedN.Add(seq - p.confirmed)
	p.confirmed = seq
	p.lastConfirmed.Store(time.Now().UnixNano())
	var last *checkpoint.Position
	for p.head < len(p.pending) && p.pending[p.head].seq <= seq {
		last = &p.pending[p.head].pos
		p.head++
	}
	if last != nil {
		p.ckpt.Mark(*last)
	}
	// Compact the FIFO once its consumed head dominates.
	if p.head > 1024 && p.head*2 > len(p.pending) {
		n := copy(p.pending, p.pending[p.head:])
		clear(p.pending[n:])
		p.pending = p.pending[:n]
		p.head = 0
	} else if p.head == len(p.pending) {
		p.pending = p.pending[:0]
		p.head = 0
	}
}

// Stats returns a snapshot of the counters.
func (p *Pipeline) Stats() Stats {
	s := Stats{
		Lines:        p.lines.Load(),
		Sent:         p.sent.Load(),
		Confirmed:    p.confirmedN.Load(),
		Bytes:        p.bytes.Load(),
		ParseErrors:  p.parseErrors.Load(),
		Partial:      p.partial.Load(),
		LongLines:    p.longLines.Load(),
		Truncated:    p.truncated.Load(),
		SkippedBlank: p.blanks.Load(),
	}
	if ns := p.lastConfirmed.Load(); ns != 0 {
		s.LastConfirmed = time.Unix(0, ns)
	}
	return s
}

// rateLimit lets one event through per interval. Used from one goroutine.
type rateLimit struct {
	every time.Duration
	last  time.Time
}

func (r *rateLimit) allow() bool {
	now := time.Now()
	if now.Sub(r.last) < r.every {
		return false
	}
	r.last = now
	return true
}
