package containerlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/tailer"
)

// clock hands out the times a runtime stamps lines with, one microsecond
// apart, in zone.
type clock struct {
	t time.Time
}

func newClock(zone *time.Location) *clock {
	return &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, zone)}
}

func (c *clock) now() time.Time {
	c.t = c.t.Add(time.Microsecond + 7*time.Nanosecond)
	return c.t
}

// containerdLines returns the physical lines containerd writes for out,
// the output of one stream, exactly as redirectLogs in containerd's
// internal/cri/io/logger.go does: read through a bufio.Reader of 4096
// bytes (defaultBufSize, at most maxLen), a line longer than maxLen cut
// into P lines of maxLen bytes, "\r\n" and "\n" dropped, output that ends
// without a newline written as a P line. Each line ends with "\n".
func containerdLines(c *clock, stream string, out []byte, maxLen int) [][]byte {
	var lines [][]byte
	bufSize := 4096
	if maxLen > 0 && maxLen < bufSize {
		bufSize = maxLen
	}
	r := bufio.NewReaderSize(bytes.NewReader(out), bufSize)
	write := func(tag string, parts [][]byte) {
		var b bytes.Buffer
		b.WriteString(c.now().Format(time.RFC3339Nano))
		b.WriteString(" " + stream + " " + tag + " ")
		for _, p := range parts {
			b.Write(p)
		}
		b.WriteByte('\n')
		lines = append(lines, b.Bytes())
	}
	var buf [][]byte
	length := 0
	for {
		var stop bool
		newLine, isPrefix, err := containerdReadLine(r)
		if len(newLine) > 0 {
			buf = append(buf, bytes.Clone(newLine))
			length += len(newLine)
		}
		if err != nil {
			if length == 0 {
				break
			}
			stop = true
		}
		if maxLen > 0 && length > maxLen {
			exceedLen := length - maxLen
			last := buf[len(buf)-1]
			buf[len(buf)-1] = last[:len(last)-exceedLen]
			write("P", buf)
			buf = [][]byte{last[len(last)-exceedLen:]}
			length = exceedLen
		}
		if isPrefix {
			continue
		}
		if stop {
			write("P", buf)
		} else {
			write("F", buf)
		}
		buf, length = nil, 0
		if stop {
			break
		}
	}
	return lines
}

// containerdReadLine is readLine of containerd's logger.go.
func containerdReadLine(b *bufio.Reader) (line []byte, isPrefix bool, err error) {
	line, err = b.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		if len(line) > 0 && line[len(line)-1] == '\r' {
			if err := b.UnreadByte(); err != nil {
				panic(err)
			}
			line = line[:len(line)-1]
		}
		return line, true, nil
	}
	if len(line) == 0 {
		if err != nil {
			line = nil
		}
		return
	}
	if line[len(line)-1] == '\n' {
		drop := 1
		if len(line) > 1 && line[len(line)-2] == '\r' {
			drop = 2
		}
		line = line[:len(line)-drop]
	}
	return
}

// conmonLines returns the physical lines conmon writes for out, read from
// the container's pipe in reads of the given sizes (the last repeated),
// as write_k8s_log in conmon's src/ctr_logging.c does: each read's lines,
// the end of the read without a newline as a P line, the time in
// "%09ld+hh:mm" form.
func conmonLines(c *clock, stream string, out []byte, reads []int) [][]byte {
	var lines [][]byte
	for k := 0; len(out) > 0; k++ {
		n := min(reads[min(k, len(reads)-1)], len(out))
		buf := out[:n]
		out = out[n:]
		ts := c.now().Format("2006-01-02T15:04:05.000000000-07:00")
		for len(buf) > 0 {
			i := bytes.IndexByte(buf, '\n')
			var b bytes.Buffer
			b.WriteString(ts + " " + stream + " ")
			if i < 0 {
				b.WriteString("P ")
				b.Write(buf)
				b.WriteByte('\n')
				buf = nil
			} else {
				b.WriteString("F ")
				b.Write(buf[:i+1])
				buf = buf[i+1:]
			}
			lines = append(lines, b.Bytes())
		}
	}
	return lines
}

// dockerLines returns the physical lines Docker's json-file driver writes
// for out, as daemon/logger/copier.go cuts it (a 16 KiB buffer: a line
// longer than it goes out in messages of 16384 bytes, without "\n") and
// jsonfilelog.go marshals each message ("\n" added unless partial).
func dockerLines(c *clock, stream string, out []byte) [][]byte {
	const bufSize = 16 * 1024
	var lines [][]byte
	emit := func(text []byte, partial bool) {
		if !partial {
			text = append(bytes.Clone(text), '\n')
		}
		b, err := json.Marshal(struct {
			Log    string `json:"log,omitempty"`
			Stream string `json:"stream,omitempty"`
			Time   string `json:"time"`
		}{string(text), stream, c.now().UTC().Format(time.RFC3339Nano)})
		if err != nil {
			panic(err)
		}
		lines = append(lines, append(b, '\n'))
	}
	for len(out) > 0 {
		i := bytes.IndexByte(out, '\n')
		switch {
		case i >= 0 && i < bufSize:
			emit(out[:i], false)
			out = out[i+1:]
		case len(out) >= bufSize && (i < 0 || i >= bufSize):
			emit(out[:bufSize], true)
			out = out[bufSize:]
		default: // the end, without a newline
			emit(out, true)
			out = nil
		}
	}
	return lines
}

// file is a container log file being built: its physical lines as the
// tailer hands them out.
type file struct {
	source string
	ino    uint64
	data   []byte
}

// lines splits the file as the tailer does (see tailer.Line): each
// complete line with its offsets; an unterminated end, flagged Partial,
// when partialEnd; a line longer than max (when max > 0) cut and flagged
// Truncated.
func (f *file) lines(partialEnd bool, max int) []tailer.Line {
	var out []tailer.Line
	pos := func(off int64) checkpoint.Position {
		return checkpoint.Position{Path: f.source, Inode: f.ino, Fingerprint: "fp-" + f.source, FingerprintLen: 8,
			Offset: off, Size: int64(len(f.data))}
	}
	cut := func(l tailer.Line) tailer.Line {
		if max > 0 && len(l.Text) > max {
			l.Text, l.Truncated = l.Text[:max], true
		}
		return l
	}
	var start int64
	for data := f.data; len(data) > 0; {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if partialEnd {
				out = append(out, cut(tailer.Line{Text: data, Source: f.source, Start: start, Size: int64(len(data)),
					Pos: pos(start + int64(len(data))), Partial: true}))
			}
			break
		}
		out = append(out, cut(tailer.Line{Text: data[:i], Source: f.source, Start: start, Size: int64(i), Pos: pos(start + int64(i) + 1)}))
		start += int64(i) + 1
		data = data[i+1:]
	}
	return out
}

// fakeSource hands out physical lines, with io.EOF before the lines whose
// index is in eofBefore (once each), and after the last.
type fakeSource struct {
	lines     []tailer.Line
	i         int
	eofBefore map[int]bool
	waits     int
}

func (s *fakeSource) Next(ctx context.Context) (tailer.Line, error) {
	if err := ctx.Err(); err != nil {
		return tailer.Line{}, err
	}
	if s.eofBefore[s.i] {
		delete(s.eofBefore, s.i)
		return tailer.Line{}, io.EOF
	}
	if s.i >= len(s.lines) {
		return tailer.Line{}, io.EOF
	}
	l := s.lines[s.i]
	s.i++
	// Like the tailer's, the text is valid until the next call only.
	l.Text = bytes.Clone(l.Text)
	return l, nil
}

func (s *fakeSource) Wait(ctx context.Context) error {
	s.waits++
	return ctx.Err()
}

// readAll reads r until its source is exhausted (Wait is called on each
// io.EOF until the source has given everything), with each line's Text
// copied.
func readAll(t testing.TB, r *Reader, src *fakeSource) []tailer.Line {
	t.Helper()
	var out []tailer.Line
	for range 1 << 20 {
		l, err := r.Next(context.Background())
		if err == io.EOF {
			if src.i >= len(src.lines) && len(src.eofBefore) == 0 {
				return out
			}
			if err := r.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		l.Text = bytes.Clone(l.Text)
		out = append(out, l)
	}
	t.Fatal("the reader does not end")
	return nil
}

// describe renders a line for failure messages, its text shortened.
func describe(l tailer.Line) string {
	text := string(l.Text)
	if len(text) > 80 {
		text = fmt.Sprintf("%s...(%d bytes)", text[:60], len(text))
	}
	return fmt.Sprintf("{%q src=%s start=%d size=%d pos=%s@%d partial=%v truncated=%v}",
		text, l.Source, l.Start, l.Size, l.Pos.Path, l.Pos.Offset, l.Partial, l.Truncated)
}

func describeAll(ls []tailer.Line) string {
	var b strings.Builder
	for i, l := range ls {
		fmt.Fprintf(&b, "  %d: %s\n", i, describe(l))
	}
	return b.String()
}

// auditEvent returns an audit event of about size bytes, with id in its
// auditID.
func auditEvent(id string, size int) []byte {
	head := fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"%s","stage":"ResponseComplete","verb":"get","requestObject":{"data":"`, id)
	tail := `"}}`
	pad := max(size-len(head)-len(tail), 0)
	var b bytes.Buffer
	b.WriteString(head)
	for i := 0; b.Len() < len(head)+pad; i++ {
		b.WriteByte("abcdefghijklmnopqrstuvwxyz0123456789"[i%36])
	}
	b.WriteString(tail)
	return b.Bytes()
}

// klogLine is a line kube-apiserver writes to stderr.
func klogLine(n int) []byte {
	return fmt.Appendf(nil, `E1206 10:00:%02d.%06d       1 controller.go:%d] "Unhandled Error" err="failed to sync"`, n%60, n, 100+n)
}
