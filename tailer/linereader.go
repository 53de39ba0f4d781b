package tailer

import (
	"bytes"
	"context"
	"errors"
	"io"
)

// readBufSize is the size of one read from the file. Large reads keep the
// syscall count low when catching up; lines longer than this are assembled in
// a separate buffer bounded by MaxLineBytes.
const readBufSize = 256 << 10

// keptLongSize is the size of the buffer that lines longer than readBufSize
// share: it is allocated at the first such line and kept, so that a stream
// of Request-level events with large bodies allocates nothing per line.
// A longer line gets a buffer of its own size, let go after that line.
const keptLongSize = 1 << 20

// lineReader splits a byte stream into newline-terminated lines, tracking
// offsets. It never returns a line before its newline has been read: an
// unterminated tail stays buffered (see fragment).
type lineReader struct {
	max int // bound on one returned line

	buf  []byte
	r, w int

	long     []byte // the start of a line longer than buf, capped at max: in kept, or a buffer of its own
	kept     []byte // shared by the lines of at most keptLongSize, allocated at the first
	longSize int64  // full length of that line so far
	inLong   bool
	longOut  bool // long was returned to the caller and is in use until the next call

	consumed int64 // offset just after the last returned line
	read     int64 // bytes read from the source so far (offset of buf[w])
	// atEnd is set when the last read reached the end of what the source
	// holds (see next): the next call returns no line without reading,
	// once the lines buffered are out.
	atEnd bool
	reads int // reads made from sources, which tests hold to their budget

	peek []byte // scratch for longLen, allocated at the first long line
}

func newLineReader(max int) *lineReader {
	return &lineReader{max: max, buf: make([]byte, readBufSize)}
}

// reset forgets everything buffered and sets the stream offset.
func (lr *lineReader) reset(offset int64) {
	lr.r, lr.w = 0, 0
	lr.atEnd = false
	lr.releaseLong()
	lr.consumed, lr.read = offset, offset
}

func (lr *lineReader) releaseLong() {
	lr.inLong, lr.longSize, lr.longOut = false, 0, false
	lr.long = nil // kept stays; a buffer of its own is let go
}

func (lr *lineReader) appendLong(b []byte) {
	lr.inLong = true
	lr.longSize += int64(len(b))
	if room := lr.max - len(lr.long); room > 0 {
		lr.long = append(lr.long, b[:min(room, len(b))]...)
	}
}

// longLen returns how many bytes of the line that fills buf are kept
// (at most max), as far as src can tell without being read: a file is
// searched ahead for the newline with ReadAt, so that the line is
// assembled in one allocation of the right size instead of a series of
// growing copies, which would need about twice the line's size at once.
// Other sources (a gzip stream) give just buf's length; long then grows as
// it is filled. It is a size hint only: a file that changes under it costs
// an extra growth, nothing else. It stops searching when ctx ends.
func (lr *lineReader) longLen(ctx context.Context, src io.Reader) int {
	n := lr.w
	ra, ok := src.(io.ReaderAt)
	if !ok {
		return n
	}
	if lr.peek == nil {
		lr.peek = make([]byte, 64<<10)
	}
	for off := lr.read; n < lr.max && ctx.Err() == nil; {
		k, err := ra.ReadAt(lr.peek[:min(len(lr.peek), lr.max-n)], off)
		if i := bytes.IndexByte(lr.peek[:k], '\n'); i >= 0 {
			return n + i
		}
		n += k
		off += int64(k)
		if err != nil || k == 0 {
			break
		}
	}
	return min(n, lr.max)
}

// line is one line found by next.
type line struct {
	text      []byte // without the newline; valid until the next call
	start     int64  // offset of the line's first byte
	end       int64  // offset just after its newline
	size      int64  // full length without the newline (> len(text) when truncated)
	truncated bool
}

// next returns the next complete line. ok is false when src has no complete
// line right now (io.EOF or a zero read, or, with short set, a read that
// returned less than the room it was given); err is a read error other than
// EOF, or ctx.Err(): ctx is checked before every read, so that a source that
// never ends a line (a huge or sparse file without newlines) cannot keep
// next reading after ctx ended. What was read stays buffered for the next
// call.
//
// short says that src is a regular file, from which a read returns less
// than it was asked for only when fewer bytes are left in the file, or when
// a signal interrupts it (POSIX read(),
// https://pubs.opengroup.org/onlinepubs/9799919799/functions/read.html):
// such a read is taken as the end of what the file holds for now, which
// saves the read that would only return 0. Were it wrong (an interrupted
// read, a file system that returns short reads before the end), the rest
// would be read at the next call. A gzip stream returns short reads
// anywhere, and is read until it returns nothing.
//
// onRead, if set, is called after every read that returned data, with end
// set when that read reached the end of the source as short allows to tell;
// an error from it ends next with that error, what was read staying
// buffered.
func (lr *lineReader) next(ctx context.Context, src io.Reader, short bool, onRead func(end bool) error) (l line, ok bool, err error) {
	if lr.longOut {
		lr.releaseLong()
		lr.longOut = false
	}
	for {
		if i := bytes.IndexByte(lr.buf[lr.r:lr.w], '\n'); i >= 0 {
			seg := lr.buf[lr.r : lr.r+i]
			lr.r += i + 1
			if lr.inLong {
				lr.appendLong(seg)
				l = line{text: lr.long, size: lr.longSize}
				lr.inLong, lr.longSize = false, 0
				lr.longOut = true // released on the next call
			} else {
				l = line{text: seg[:min(len(seg), lr.max)], size: int64(len(seg))}
			}
			l.truncated = l.size > int64(len(l.text))
			l.start = lr.consumed
			l.end = l.start + l.size + 1
			lr.consumed = l.end
			return l, true, nil
		}
		if lr.atEnd {
			// The last read reached the end of the source: nothing more is
			// there for now. The next call reads again.
			lr.atEnd = false
			return line{}, false, nil
		}
		// No newline buffered: make room, then read more.
		if lr.r == 0 && lr.w == len(lr.buf) {
			if !lr.inLong {
				if n := lr.longLen(ctx, src); n > keptLongSize {
					lr.long = make([]byte, 0, n)
				} else {
					if lr.kept == nil {
						lr.kept = make([]byte, 0, min(keptLongSize, lr.max))
					}
					lr.long = lr.kept[:0]
				}
			}
			lr.appendLong(lr.buf[:lr.w])
			lr.w = 0
		} else if lr.r > 0 {
			lr.w = copy(lr.buf, lr.buf[lr.r:lr.w])
			lr.r = 0
		}
		if err := ctx.Err(); err != nil {
			return line{}, false, err
		}
		room := len(lr.buf) - lr.w
		n, err := src.Read(lr.buf[lr.w:])
		lr.reads++
		lr.w += n
		lr.read += int64(n)
		end := short && n < room
		if n > 0 && onRead != nil {
			if err := onRead(end); err != nil {
				return line{}, false, err
			}
		}
		if n == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				return line{}, false, nil
			}
			return line{}, false, err
		}
		lr.atEnd = end
	}
}

// pending reports whether an unterminated fragment is buffered.
func (lr *lineReader) pending() bool { return lr.inLong || lr.w > lr.r }

// fragment returns the buffered unterminated tail as a line (end = start+size,
// no newline) and forgets it.
func (lr *lineReader) fragment() line {
	if lr.longOut {
		lr.releaseLong()
	}
	start := lr.consumed
	var l line
	if lr.inLong {
		lr.appendLong(lr.buf[lr.r:lr.w])
		l = line{text: lr.long, size: lr.longSize}
	} else {
		n := lr.w - lr.r
		l = line{text: lr.buf[lr.r : lr.r+min(n, lr.max)], size: int64(n)}
	}
	l.truncated = l.size > int64(len(l.text))
	l.start, l.end = start, start+l.size
	lr.consumed = l.end
	lr.r, lr.w = 0, 0
	lr.atEnd = false
	lr.inLong, lr.longSize = false, 0
	lr.longOut = true // long may hold the fragment; released on the next call
	return l
}
