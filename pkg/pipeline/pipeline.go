// Package pipeline moves audit events from the log file to the log server,
// a batch at a time.
//
// One loop on one goroutine takes every line the tailer has ready without
// waiting, parses it, maps it to GELF and adds the message to a batch; when
// no line is ready (or the batch is full) it hands the batch to the shipper
// in one call and, if nothing is ready, waits for the log to grow. Each
// line's checkpoint position goes into a FIFO (the Tracker) behind the
// sequence number of the last message at or before it; when the shipper
// confirms a sequence
// number (the server received every message up to it: see package shipper
// for what confirms a message on each transport), the newest position
// whose messages are all confirmed is marked in the checkpoint, once per
// confirmation. So the checkpoint never moves past an event the server has
// not received, and while the server is slow or down the shipper's bounded
// window fills, the batch waits, and the file on disk is the buffer.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/pkg/audit"
	"github.com/audittail/audittail/pkg/gelf"
	"github.com/audittail/audittail/tailer"
	"github.com/rs/zerolog"
)

// Source yields lines of one log with their checkpoint positions (a
// *tailer.Tailer).
type Source interface {
	// Next returns the next line if one is ready without waiting, else
	// io.EOF.
	Next(ctx context.Context) (tailer.Line, error)
	// Wait returns when more lines may be ready, or ctx.Err().
	Wait(ctx context.Context) error
}

// processor is the stage between parse and encode (pkg/process.Stage): it
// may drop an event (keep false) or return the line to ship in its stead,
// having updated ev to match.
type processor interface {
	Process(line []byte, ev *audit.Event) (out []byte, keep bool)
}

// batch collects encoded messages and hands them to the shipper together.
type batch interface {
	// Add takes msg, which must not change until Send returned; a message
	// the transport cannot carry at its size is refused with an error
	// implementing tooLarge, and the batch is unchanged.
	Add(msg []byte) error
	Len() int
	// Send hands the messages to the shipper; they get sequence numbers
	// first..first+n-1. Fewer than Len are taken (n) only with an error.
	Send(ctx context.Context) (first uint64, n int, err error)
	// SendNow is Send for a caller about to wait for input: the shipper may
	// write the messages from the caller's goroutine, saving a hand-off.
	SendNow(ctx context.Context) (first uint64, n int, err error)
}

// Stats are the pipeline's counters.
type Stats struct {
	Read         uint64 // lines read, blank ones included
	Sent         uint64 // messages handed to the shipper
	Bytes        uint64 // bytes of GELF handed to the shipper
	ParseErrors  uint64 // lines that were not valid audit events (shipped flagged)
	Partial      uint64 // unterminated ends of rotated files (shipped flagged)
	LongLines    uint64 // lines cut at max_line_bytes (shipped flagged)
	Truncated    uint64 // messages cut to max_message_bytes
	SkippedBlank uint64 // empty lines (nothing to ship)
	Dropped      uint64 // events the policy dropped (nothing to ship)
}

// Bounds of one batch: the shipper takes a batch in one call, and the
// messages stay in the pipeline's buffer until then.
const (
	maxBatchMessages = 512
	maxBatchBytes    = 1 << 20
)

// Pipeline is the forward path. Run must be called once; Stats is safe to
// call from another goroutine.
type Pipeline struct {
	srcs    []Source
	logs    []string // the name of each source, for _log
	enc     *gelf.Encoder
	proc    processor // nil: none
	out     batch
	tracker *Tracker
	log     zerolog.Logger

	ev  audit.Event
	rec gelf.Record

	// The batch being built: its messages back to back in buf, and the
	// lines it covers (messages and blank lines), with their positions.
	buf      []byte
	inBatch  []batchLine
	msgs     int    // messages in the batch
	msgBytes uint64 // their bytes
	flagged  batchCounts

	read, sent, bytes                                  atomic.Uint64
	parseErrors, partial, longLines, truncated, blanks atomic.Uint64
	dropped                                            atomic.Uint64

	parseLog, longLog rateLimit
}

// batchLine is a line of the batch being built: msg tells whether it gave
// a message (blank lines do not); in is the index of its source.
type batchLine struct {
	pos checkpoint.Position
	msg bool
	in  uint8
}

// MaxSources bounds the sources of one pipeline.
const MaxSources = 255

// Input is one source of the pipeline and the name its messages carry in
// _log ("" for none: a pipeline of one source need not say).
type Input struct {
	Source Source
	Log    string
}

// batchCounts are the per-line counters of the batch being built, added
// to the pipeline's once per batch.
type batchCounts struct {
	parseErrors, partial, longLines, truncated, blanks, dropped uint64
}

// New wires a pipeline: lines from the inputs (one at least, at most
// MaxSources), processed by proc (nil: no processing), encoded by enc,
// sent in batches through out, their positions tracked by tracker (whose
// Confirm the shipper calls), which marks the positions of inputs[i] in
// its i-th checkpoint.
func New(inputs []Input, proc processor, enc *gelf.Encoder, out batch, tracker *Tracker, log zerolog.Logger) *Pipeline {
	p := &Pipeline{proc: proc, enc: enc, out: out, tracker: tracker, log: log,
		parseLog: rateLimit{every: 10 * time.Second}, longLog: rateLimit{every: 10 * time.Second}}
	for _, in := range inputs {
		p.srcs, p.logs = append(p.srcs, in.Source), append(p.logs, in.Log)
	}
	return p
}

// Run moves lines until ctx ends or reading fails. It returns ctx.Err() on
// shutdown. Positions of messages sent but not yet confirmed stay pending;
// the caller closes the shipper, whose confirmations still mark them. A
// batch not handed to the shipper when ctx ends is not lost: its lines are
// past the checkpoint, and read again at the next start.
//
// With several sources, they take turns: a source is read until it has
// nothing ready or a batch is full, then the next one's turn comes, so a
// source in a large backlog (a spool filled while the log server was down)
// delays the others by at most one batch per turn. A batch may hold lines
// of several sources; each line's position is marked in its own
// checkpoint. When no source has anything ready, the batch is sent and the
// pipeline waits until any source may have more.
func (p *Pipeline) Run(ctx context.Context) error {
	if n := len(p.srcs); n == 0 || n > MaxSources {
		return fmt.Errorf("pipeline: %d sources, want 1 to %d", n, MaxSources)
	}
	cur, idle := 0, 0 // the source whose turn it is; sources in a row with nothing ready
	for {
		line, err := p.srcs[cur].Next(ctx)
		switch {
		case errors.Is(err, io.EOF):
			if idle++; idle < len(p.srcs) {
				cur = (cur + 1) % len(p.srcs)
				continue
			}
			idle = 0
			if err := p.flush(ctx, true); err != nil {
				return err
			}
			if err := p.wait(ctx); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		idle = 0
		if err := p.add(line, uint8(cur)); err != nil {
			return err
		}
		if p.msgs >= maxBatchMessages || len(p.buf) >= maxBatchBytes {
			if err := p.flush(ctx, false); err != nil {
				return err
			}
			cur = (cur + 1) % len(p.srcs)
		}
	}
}

// wait returns when any source may have more lines, or with ctx.Err(), or
// with the error of a source whose Wait failed. Each source's Wait runs in
// its own goroutine, all of which have returned when wait does (a source
// is used by one goroutine at a time).
func (p *Pipeline) wait(ctx context.Context) error {
	if len(p.srcs) == 1 {
		return p.srcs[0].Wait(ctx)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(p.srcs))
	for _, s := range p.srcs {
		go func() { errs <- s.Wait(wctx) }()
	}
	var first error
	for i := range p.srcs {
		err := <-errs
		if i == 0 {
			cancel() // one source may have more: stop the other waits
		}
		if err != nil && first == nil && !errors.Is(err, context.Canceled) {
			first = err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// add parses, maps and encodes one line of source in into the batch.
func (p *Pipeline) add(line tailer.Line, in uint8) error {
	if len(line.Text) == 0 && !line.Partial {
		p.flagged.blanks++
		p.inBatch = append(p.inBatch, batchLine{pos: line.Pos, in: in})
		return nil
	}
	p.rec = gelf.Record{
		Line:          line.Text,
		Log:           p.logs[in],
		Source:        line.Source,
		Offset:        line.Start,
		Partial:       line.Partial,
		LineTruncated: line.Truncated,
		LineSize:      line.Size,
	}
	if err := audit.Parse(line.Text, &p.ev); err != nil {
		p.rec.ParseErr = err
		p.flagged.parseErrors++
		if p.parseLog.allow() {
			p.log.Warn().Str("file", line.Source).Int64("offset", line.Start).Int64("size", line.Size).
				Str("reason", err.Error()).Msg("line is not a valid audit event; shipping it raw, flagged _parse_error")
		}
	} else {
		p.rec.Event = &p.ev
		if p.proc != nil {
			var keep bool
			if p.rec.Line, keep = p.proc.Process(line.Text, &p.ev); !keep {
				// Nothing to ship; the line's position is marked like a
				// blank line's, once everything before it is confirmed.
				p.flagged.dropped++
				p.inBatch = append(p.inBatch, batchLine{pos: line.Pos, in: in})
				return nil
			}
		}
	}
	if line.Partial {
		p.flagged.partial++
	}
	if line.Truncated {
		p.flagged.longLines++
		if p.longLog.allow() {
			p.log.Warn().Str("file", line.Source).Int64("offset", line.Start).Int64("size", line.Size).
				Msg("line longer than tail.max_line_bytes; shipping its start, flagged _line_truncated_bool")
		}
	}
	if err := p.encode(); err != nil {
		return err
	}
	p.inBatch = append(p.inBatch, batchLine{pos: line.Pos, msg: true, in: in})
	p.msgs++
	return nil
}

// tooLarge is implemented by a sender's error for a message the transport
// cannot carry at its size (for example more than 128 UDP chunks once
// compressed). size and limit are in the transport's unit.
type tooLarge interface {
	TooLarge() (size, limit int)
}

// encode appends the message of p.rec to the batch. A message the
// transport refuses as too large is encoded again with a smaller cap (the
// encoder cuts in its documented order, flagging _truncated_bool) until it
// fits: never dropped.
func (p *Pipeline) encode() error {
	start := len(p.buf)
	var res gelf.Result
	p.buf, res = p.enc.Encode(p.buf, &p.rec)
	for {
		msg := p.buf[start:]
		err := p.out.Add(msg)
		var tl tooLarge
		if !errors.As(err, &tl) {
			if err == nil {
				p.msgBytes += uint64(len(msg))
				if res.Truncated {
					p.flagged.truncated++
				}
			}
			return err
		}
		cur := len(msg)
		if cur <= gelf.MinMaxMessageBytes {
			return fmt.Errorf("pipeline: even a %d-byte message is too large: %w", cur, err)
		}
		size, limit := tl.TooLarge()
		// Shrink in proportion, with a margin; at least by a tenth so the
		// loop ends.
		next := int(int64(cur) * int64(limit) / int64(max(size, 1)) * 9 / 10)
		next = max(min(next, cur-cur/10), gelf.MinMaxMessageBytes)
		p.log.Debug().Err(err).Int("size", cur).Int("new_limit", next).Msg("message too large for the transport; encoding it smaller")
		p.buf, res = p.enc.EncodeLimit(p.buf[:start], &p.rec, next)
	}
}

// flush hands the batch to the shipper and queues the positions of its
// lines behind the sequence numbers the messages got. idle says that the
// tailer has nothing more for now: the shipper may then write the batch
// from this goroutine (SendNow); a full batch in a backlog is handed to
// the shipper's driver, which writes it while this goroutine reads and
// encodes the next one.
func (p *Pipeline) flush(ctx context.Context, idle bool) error {
	if len(p.inBatch) == 0 {
		return nil
	}
	var first uint64
	n := 0
	var err error
	if p.msgs > 0 {
		if idle {
			first, n, err = p.out.SendNow(ctx)
		} else {
			first, n, err = p.out.Send(ctx)
		}
		if err == nil && n != p.msgs {
			err = fmt.Errorf("pipeline: the shipper took %d of %d messages", n, p.msgs)
		}
	}
	// Queue the positions of the lines whose messages were taken (and of
	// the blank lines among and after them).
	if terr := p.tracker.sent(first, n, p.inBatch); terr != nil {
		return terr
	}

	fc := p.flagged
	p.read.Add(uint64(len(p.inBatch)))
	p.sent.Add(uint64(n))
	if n == p.msgs {
		p.bytes.Add(p.msgBytes)
	}
	p.parseErrors.Add(fc.parseErrors)
	p.partial.Add(fc.partial)
	p.longLines.Add(fc.longLines)
	p.truncated.Add(fc.truncated)
	p.blanks.Add(fc.blanks)
	p.dropped.Add(fc.dropped)
	p.reset()
	return err
}

// reset empties the batch being built.
func (p *Pipeline) reset() {
	p.buf = p.buf[:0]
	if cap(p.buf) > 2*maxBatchBytes+gelf.DefaultMaxMessageBytes { // a batch that ended with a huge message
		p.buf = nil
	}
	clear(p.inBatch)
	p.inBatch = p.inBatch[:0]
	p.msgs, p.msgBytes, p.flagged = 0, 0, batchCounts{}
}

// Stats returns a snapshot of the counters.
func (p *Pipeline) Stats() Stats {
	return Stats{
		Read:         p.read.Load(),
		Sent:         p.sent.Load(),
		Bytes:        p.bytes.Load(),
		ParseErrors:  p.parseErrors.Load(),
		Partial:      p.partial.Load(),
		LongLines:    p.longLines.Load(),
		Truncated:    p.truncated.Load(),
		SkippedBlank: p.blanks.Load(),
		Dropped:      p.dropped.Load(),
	}
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
