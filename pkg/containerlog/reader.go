// Package containerlog reads the audit log that kube-apiserver writes to
// its standard output (--audit-log-path=-) from the container log the
// runtime keeps of it, under
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log.
//
// The runtime stores each line of the container's output in one or more
// physical lines of its own format (see Format): prefixed with a time, the
// stream (stdout or stderr) and a tag, and cut into fragments when longer
// than its buffer (16 KiB for containerd and Docker, a pipe read for
// conmon). A Reader sits between the tailer, which follows the file through
// kubelet's rotations (tailer.Config.Rotation "kubelet"), and the pipeline:
// it turns the physical lines into the lines of the audit log, one audit
// event each, keeping the tailer's checkpoint positions meaningful.
package containerlog

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/tailer"
)

// Source yields the physical lines of a container log with their
// checkpoint positions (a *tailer.Tailer): the pipeline's Source.
type Source interface {
	// Next returns the next line if one is ready without waiting, else
	// io.EOF.
	Next(ctx context.Context) (tailer.Line, error)
	// Wait returns when more lines may be ready, or ctx.Err().
	Wait(ctx context.Context) error
}

var _ Source = (*Reader)(nil)
var _ Source = (*tailer.Tailer)(nil)

// keptBufSize bounds the join buffer kept from one line to the next: a
// larger one, grown for a long line, is let go after it.
const keptBufSize = 1 << 20

// Reader turns the physical lines of a container log into the lines of
// the output of the container's standard output:
//
//   - only stdout is kept: a stderr line (kube-apiserver's own klog lines,
//     "E1206 10:00:00.000000       1 controller.go:...") gives a blank line
//     (empty Text, not Partial) that carries its position, so that the
//     checkpoint moves past it, unless fragments of a stdout line are
//     pending, in which case it gives nothing (see below);
//   - the fragments of a line (P P ... F) are joined into one line, even
//     across a rotation of the file (containerd writes the end of a line
//     that was being written when the log was reopened to the new file);
//     lines of stderr between them are left out;
//   - a joined line longer than the limit is cut to it and flagged
//     Truncated, the rest of it skipped: memory stays bounded by the
//     limit whatever the number of fragments;
//   - a physical line not in the format (no time, an unknown stream or
//     tag, invalid JSON) is handed on as it is, flags included, so that
//     the pipeline ships it flagged as a parse error; never dropped;
//   - a line whose fragments end without their last one is handed on
//     flagged Partial: when the file it is in was rotated away and ends
//     with an unterminated line (tailer.Line.Partial), or when the next
//     physical line comes from a later instance of the container (its
//     restart count, from the file's name, is another: the runtime writes
//     the end of output without a newline as a P line with no F, and the
//     container then died).
//
// Positions: the Pos of a line is that of its last physical line (the F).
// While fragments are pending, nothing handed on carries a position past
// their first: a stderr or empty line is swallowed (its position is
// covered by the F's), and a line not in the format carries the position
// just before the first pending fragment. So a checkpoint never skips
// fragments not yet shipped, and a restart reads them again; a stdout
// line left pending when the log stops growing waits for its F (or for
// the container's next instance).
//
// Source and Start of a line are those of its first physical line (the
// record's start in its file, not the text's); Size is the length of the
// whole joined text, larger than len(Text) when Truncated.
//
// Next, Wait and the Text of a line have the tailer's contract: one
// goroutine, Text valid until the next call to Next. Stats may be called
// from any goroutine.
type Reader struct {
	src     Source
	format  Format
	maxLine int

	// held is a physical line read but not yet handled: handing on the
	// pending line came first. Its Text stays valid, as the source has not
	// been read since.
	held    tailer.Line
	hasHeld bool

	// The pending line: its text so far (capped at maxLine) and full size,
	// its first physical line, the position just before it, and the
	// position after its last fragment.
	pending   bool
	buf       []byte
	size      int64
	truncated bool
	frags     int
	first     tailer.Line // Text not kept
	before    checkpoint.Position
	last      checkpoint.Position
	releaseIt bool // buf grew past keptBufSize for the last line: let it go at the next call

	lines, joined, stderrLines, malformed, long, unfinished atomic.Uint64
}

// Stats are the Reader's counters.
type Stats struct {
	Lines      uint64 // stdout lines handed on (blank ones included)
	Joined     uint64 // of which joined from more than one fragment
	Stderr     uint64 // stderr lines left out
	Malformed  uint64 // physical lines not in the format, handed on as they are
	Truncated  uint64 // lines cut at the limit
	Unfinished uint64 // lines whose fragments ended without their last one (handed on flagged Partial)
}

// New returns a Reader of the container log src in format (CRI or
// DockerJSON; New panics on another value: check configurations with
// ParseFormat), joining fragments into lines of at most maxLine bytes
// (tailer.Config.MaxLineBytes; tailer.DefaultMaxLineBytes when maxLine <= 0).
func New(src Source, format Format, maxLine int) *Reader {
	if _, err := ParseFormat(string(format)); err != nil {
		panic("containerlog: " + err.Error())
	}
	if maxLine <= 0 {
		maxLine = tailer.DefaultMaxLineBytes
	}
	return &Reader{src: src, format: format, maxLine: maxLine}
}

// Stats returns a snapshot of the counters.
func (r *Reader) Stats() Stats {
	return Stats{
		Lines:      r.lines.Load(),
		Joined:     r.joined.Load(),
		Stderr:     r.stderrLines.Load(),
		Malformed:  r.malformed.Load(),
		Truncated:  r.long.Load(),
		Unfinished: r.unfinished.Load(),
	}
}

// Wait waits on the source.
func (r *Reader) Wait(ctx context.Context) error { return r.src.Wait(ctx) }

// Next returns the next line, if one can be had without waiting: io.EOF
// when the source has none ready (fragments read so far stay pending),
// ctx.Err() or the source's error otherwise.
func (r *Reader) Next(ctx context.Context) (tailer.Line, error) {
	if r.releaseIt {
		r.buf, r.releaseIt = nil, false
	}
	for {
		var pl tailer.Line
		if r.hasHeld {
			pl, r.held, r.hasHeld = r.held, tailer.Line{}, false
		} else {
			l, err := r.src.Next(ctx)
			if err != nil {
				return tailer.Line{}, err
			}
			pl = l
		}
		if l, ok := r.handle(pl); ok {
			return l, nil
		}
	}
}

// handle takes one physical line, and returns the line to hand on, if
// any.
func (r *Reader) handle(pl tailer.Line) (tailer.Line, bool) {
	var rec record
	var ok bool
	if r.format == DockerJSON {
		rec, ok = parseDocker(pl.Text)
	} else {
		rec, ok = parseCRI(pl.Text)
	}
	if !ok {
		r.malformed.Add(1)
		if r.pending {
			pl.Pos = r.before
		}
		return pl, true
	}
	if r.pending && pl.Source != r.first.Source && restarted(r.first.Source, pl.Source) {
		// The container restarted: what is pending will not be ended.
		r.held, r.hasHeld = pl, true
		return r.finish(true), true
	}
	if rec.stream == stderr {
		r.stderrLines.Add(1)
		if r.pending {
			return tailer.Line{}, false
		}
		return blank(pl), true
	}
	end := !rec.partial || pl.Partial
	if !r.pending && end && r.format == CRI {
		// A line in one piece: its text is in the physical line.
		r.lines.Add(1)
		l := pl
		l.Text = rec.text
		l.Size = pl.Size - int64(rec.off)
		if len(l.Text) > r.maxLine {
			l.Text = l.Text[:r.maxLine]
		}
		l.Truncated = pl.Truncated || l.Size > int64(len(l.Text))
		if l.Truncated {
			r.long.Add(1)
		}
		if pl.Partial {
			r.unfinished.Add(1)
		}
		return l, true
	}
	if !r.pending {
		r.pending = true
		r.buf, r.size, r.truncated, r.frags = r.buf[:0], 0, false, 0
		r.first = pl
		r.first.Text = nil
		r.before = pl.Pos
		r.before.Offset = pl.Start
	}
	r.add(pl, rec)
	r.last = pl.Pos
	if !end {
		return tailer.Line{}, false
	}
	return r.finish(pl.Partial), true
}

// add appends the text of a physical line to the pending line.
func (r *Reader) add(pl tailer.Line, rec record) {
	r.frags++
	room := max(r.maxLine-len(r.buf), 0)
	if r.format == DockerJSON {
		var size int64
		var last byte
		n := len(r.buf)
		r.buf, size, last = appendUnescaped(r.buf, rec.raw, room)
		if !rec.partial && last == '\n' {
			// The newline that ends the line is not part of it.
			size--
			if int64(len(r.buf)-n) > size {
				r.buf = r.buf[:len(r.buf)-1]
			}
		}
		r.size += size
		r.truncated = r.truncated || pl.Truncated || size > int64(len(r.buf)-n)
		return
	}
	size := pl.Size - int64(rec.off) // more than len(rec.text) when the tailer cut the physical line
	r.buf = append(r.buf, rec.text[:min(room, len(rec.text))]...)
	r.size += size
	r.truncated = r.truncated || pl.Truncated || size > int64(min(room, len(rec.text)))
}

// finish hands on the pending line, Partial when its last fragment is
// missing.
func (r *Reader) finish(partial bool) tailer.Line {
	l := r.first
	l.Text = r.buf
	l.Size = r.size
	l.Pos = r.last
	l.Partial = partial
	l.Truncated = r.truncated
	r.lines.Add(1)
	if r.frags > 1 {
		r.joined.Add(1)
	}
	if partial {
		r.unfinished.Add(1)
	}
	if r.truncated {
		r.long.Add(1)
	}
	r.pending, r.frags = false, 0
	r.first, r.before, r.last = tailer.Line{}, checkpoint.Position{}, checkpoint.Position{}
	r.releaseIt = cap(r.buf) > keptBufSize
	return l
}

// blank is the line handed on for a physical line left out: no text, its
// position.
func blank(pl tailer.Line) tailer.Line {
	return tailer.Line{Text: pl.Text[:0], Source: pl.Source, Start: pl.Start, Pos: pl.Pos}
}

// restarted reports whether the files from and to, both named, are the
// logs of different instances of the container (see instanceOf).
func restarted(from, to string) bool {
	a, b := instanceOf(from), instanceOf(to)
	return a != "" && b != "" && a != b
}

// instanceOf names the instance of the container whose log the file
// source is, from its name, or "" when the name does not tell: kubelet
// names the log of each instance <dir>/<restart count>.log
// (pkg/kubelet/kuberuntime/helpers.go, buildContainerLogsPath), rotated to
// <restart count>.log.<YYYYMMDD-hhmmss>[.gz]; Docker keeps each
// container's log in a directory of its own
// (/var/lib/docker/containers/<id>/<id>-json.log[.N]).
func instanceOf(source string) string {
	if source == "" {
		return ""
	}
	dir, base := filepath.Split(source)
	base = strings.TrimSuffix(base, ".gz")
	if i := strings.Index(base, ".log"); i > 0 && allDigits(base[:i]) {
		return dir + base[:i]
	}
	if strings.Contains(base, "-json.log") {
		return dir
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
