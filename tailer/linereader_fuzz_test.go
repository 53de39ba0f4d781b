package tailer

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// chunkReader returns data in reads of the given sizes, then EOF, like a
// file being appended to in arbitrary writes.
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.sizes) > 0 {
		n = int(c.sizes[c.i%len(c.sizes)]) + 1
		c.i++
	}
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// FuzzLineReader checks the line splitter against bytes.Split: every line
// comes out once, in order, with exact offsets, cut at max when longer, and
// the unterminated tail is returned only as the final fragment.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), []byte{0, 3, 1}, uint16(4))
	f.Add([]byte("{\"kind\":\"Event\"}\n"), []byte{}, uint16(1))
	f.Add(bytes.Repeat([]byte("x"), 3000), []byte{200}, uint16(100))
	f.Fuzz(func(t *testing.T, data, sizes []byte, maxLine uint16) {
		// short: a read shorter than the room it was given is taken as the
		// end of what there is for now, as for a file; the lines come out
		// the same, over more calls.
		for _, short := range []bool{false, true} {
			max := int(maxLine)%2048 + 1
			lr := newLineReader(max)
			lr.buf = make([]byte, 64) // small, so long lines span many reads
			src := &chunkReader{data: data, sizes: sizes}
			want := bytes.Split(data, []byte("\n"))
			tail := want[len(want)-1]
			want = want[:len(want)-1]
			var off int64
			for i, w := range want {
				l, ok, err := lr.next(t.Context(), src, short, nil)
				for !ok && err == nil && (len(src.data) > 0 || lr.atEnd) {
					l, ok, err = lr.next(t.Context(), src, short, nil)
				}
				if err != nil || !ok {
					t.Fatalf("short %v, line %d: ok %v err %v", short, i, ok, err)
				}
				if l.start != off || l.size != int64(len(w)) || l.end != off+int64(len(w))+1 {
					t.Fatalf("short %v, line %d: start %d size %d end %d; want start %d size %d", short, i, l.start, l.size, l.end, off, len(w))
				}
				cut := w[:min(len(w), max)]
				if !bytes.Equal(l.text, cut) || l.truncated != (len(w) > max) {
					t.Fatalf("short %v, line %d: text %q truncated %v; want %q", short, i, l.text, l.truncated, cut)
				}
				off = l.end
			}
			for {
				if l, ok, err := lr.next(t.Context(), src, short, nil); ok || err != nil {
					t.Fatalf("short %v: extra line %q (err %v)", short, l.text, err)
				}
				if len(src.data) == 0 && !lr.atEnd {
					break
				}
			}
			if lr.pending() != (len(tail) > 0) {
				t.Fatalf("short %v: pending %v with a tail of %d bytes", short, lr.pending(), len(tail))
			}
			if len(tail) > 0 {
				fr := lr.fragment()
				if fr.start != off || fr.size != int64(len(tail)) || !bytes.Equal(fr.text, tail[:min(len(tail), max)]) {
					t.Fatalf("short %v: fragment %q start %d size %d; want %q at %d", short, fr.text, fr.start, fr.size, tail, off)
				}
			}
		}
	})
}

// TestLongLineFromFileSizedOnce: a line longer than the read buffer, read
// from a file, is assembled in one buffer of its size (the file is
// searched ahead for the newline), not in a series of growing copies; from
// a source without ReadAt it still comes out whole. Both cases are checked
// for a line below max and a line cut at max, and for the line after it.
func TestLongLineFromFileSizedOnce(t *testing.T) {
	const max = 4 << 20
	for _, size := range []int{3<<20 + 17, 5 << 20} {
		data := append(append(append([]byte("a\n"), bytes.Repeat([]byte("x"), size)...), '\n'), "b\n"...)
		f := openWith(t, data)
		for _, src := range []struct {
			name string
			r    io.Reader
			file bool
		}{{"file", f, true}, {"stream", struct{ io.Reader }{bytes.NewReader(data)}, false}} {
			lr := newLineReader(max)
			if l, ok, err := lr.next(t.Context(), src.r, src.file, nil); !ok || err != nil || string(l.text) != "a" {
				t.Fatalf("%s: first line %q %v %v", src.name, l.text, ok, err)
			}
			l, ok, err := lr.next(t.Context(), src.r, src.file, nil)
			want := min(size, max)
			if !ok || err != nil || len(l.text) != want || l.size != int64(size) || l.truncated != (size > max) ||
				l.start != 2 || l.end != int64(2+size+1) {
				t.Fatalf("%s: long line len %d size %d truncated %v start %d end %d, %v %v",
					src.name, len(l.text), l.size, l.truncated, l.start, l.end, ok, err)
			}
			if src.file && cap(l.text) > want+8<<10 { // one allocation, rounded to a page
				t.Errorf("%s: line of %d bytes held in a buffer of %d", src.name, want, cap(l.text))
			}
			if l, ok, _ := lr.next(t.Context(), src.r, src.file, nil); !ok || string(l.text) != "b" {
				t.Fatalf("%s: line after the long one %q", src.name, l.text)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestLongLinesShareOneBuffer: lines longer than the read buffer but not
// than keptLongSize, as Request-level events with large bodies are, are
// all assembled in one kept buffer, which the next pass over the file
// uses again. A longer line gets a buffer of its own, let go after it.
func TestLongLinesShareOneBuffer(t *testing.T) {
	sizes := []int{readBufSize + 1, 700 << 10, keptLongSize, 3 << 20, 300 << 10, 12, keptLongSize - 5}
	var data []byte
	for i, size := range sizes {
		data = append(append(data, bytes.Repeat([]byte{'a' + byte(i)}, size)...), '\n')
	}
	f := openWith(t, data)
	lr := newLineReader(4 << 20)
	var kept *byte // the kept buffer's first byte
	for pass := range 2 {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		lr.reset(0)
		for i, size := range sizes {
			l, ok, err := lr.next(t.Context(), f, true, nil)
			if !ok || err != nil || len(l.text) != size || l.text[0] != 'a'+byte(i) || l.text[size-1] != 'a'+byte(i) {
				t.Fatalf("pass %d, line %d: len %d, want %d (%v %v)", pass, i, len(l.text), size, ok, err)
			}
			first := &l.text[0]
			switch {
			case size <= readBufSize: // in the read buffer
			case size > keptLongSize:
				if first == kept || cap(l.text) != size {
					t.Errorf("pass %d, line %d of %d bytes: in the kept buffer or a buffer of %d", pass, i, size, cap(l.text))
				}
			case kept == nil:
				kept = first
			case first != kept || cap(l.text) != keptLongSize:
				t.Errorf("pass %d, line %d of %d bytes: not in the kept buffer (capacity %d)", pass, i, size, cap(l.text))
			}
		}
	}
}

// openWith writes data to a new file and opens it for reading; the file is
// closed when the test ends.
func openWith(t *testing.T, data []byte) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
