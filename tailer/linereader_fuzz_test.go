package tailer

import (
	"bytes"
	"io"
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
		max := int(maxLine)%2048 + 1
		lr := newLineReader(max)
		lr.buf = make([]byte, 64) // small, so long lines span many reads
		src := &chunkReader{data: data, sizes: sizes}
		want := bytes.Split(data, []byte("\n"))
		tail := want[len(want)-1]
		want = want[:len(want)-1]
		var off int64
		for i, w := range want {
			l, ok, err := lr.next(src, nil)
			for !ok && err == nil && len(src.data) > 0 {
				l, ok, err = lr.next(src, nil)
			}
			if err != nil || !ok {
				t.Fatalf("line %d: ok %v err %v", i, ok, err)
			}
			if l.start != off || l.size != int64(len(w)) || l.end != off+int64(len(w))+1 {
				t.Fatalf("line %d: start %d size %d end %d; want start %d size %d", i, l.start, l.size, l.end, off, len(w))
			}
			cut := w[:min(len(w), max)]
			if !bytes.Equal(l.text, cut) || l.truncated != (len(w) > max) {
				t.Fatalf("line %d: text %q truncated %v; want %q", i, l.text, l.truncated, cut)
			}
			off = l.end
		}
		if l, ok, err := lr.next(src, nil); ok || err != nil {
			t.Fatalf("extra line %q (err %v)", l.text, err)
		}
		if lr.pending() != (len(tail) > 0) {
			t.Fatalf("pending %v with a tail of %d bytes", lr.pending(), len(tail))
		}
		if len(tail) > 0 {
			fr := lr.fragment()
			if fr.start != off || fr.size != int64(len(tail)) || !bytes.Equal(fr.text, tail[:min(len(tail), max)]) {
				t.Fatalf("fragment %q start %d size %d; want %q at %d", fr.text, fr.start, fr.size, tail, off)
			}
		}
	})
}
