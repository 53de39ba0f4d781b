package shipper

import (
	"bufio"
	"bytes"
	"encoding/json"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the shipper's goroutine and the
// test to use together.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

func TestStdoutOneJSONMessagePerLine(t *testing.T) {
	out := &syncBuffer{}
	s, conf := newShipper(t, Config{Endpoint: "-"})
	s.tr.(*streamTransport).out = out
	if err := s.Connect(t.Context()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	startRun(t, s)

	const n = 2000
	var want [][]byte
	for i := 1; i <= n; i++ {
		msg := gelfMessage(i, i%3000)
		want = append(want, msg)
		if _, err := s.Send(t.Context(), msg); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	waitConfirmed(t, s, n)
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc.Buffer(nil, 1<<20)
	i := 0
	for ; sc.Scan(); i++ {
		line := sc.Bytes()
		if i >= n {
			t.Fatalf("extra line %d: %.80q", i+1, line)
		}
		if !json.Valid(line) {
			t.Fatalf("line %d is not JSON: %.80q", i+1, line)
		}
		if decodeSeq(t, line) != i+1 || !bytes.Equal(line, want[i]) {
			t.Fatalf("line %d differs from message %d", i+1, i+1)
		}
	}
	if i != n {
		t.Fatalf("%d lines, want %d", i, n)
	}
	if !bytes.HasSuffix(out.Bytes(), []byte("}\n")) {
		t.Error("output does not end with a newline")
	}
	if conf.Last() != n {
		t.Errorf("last onConfirm(%d), want %d", conf.Last(), n)
	}
	if _, err := s.Send(t.Context(), []byte("{\"a\":\n1}")); err == nil {
		t.Error("Send accepted a message with a newline in stdout mode")
	}
}
