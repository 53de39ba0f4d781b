package gelftest

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

const wait = 5 * time.Second

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	return compress(t, b, func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) })
}

func zlibBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	return compress(t, b, func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) })
}

// compress returns b written through the compressor that newWriter makes.
func compress(t testing.TB, b []byte, newWriter func(io.Writer) io.WriteCloser) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := newWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// chunk builds one GELF UDP chunk.
func chunk(id uint64, seq, count byte, data []byte) []byte {
	d := []byte{0x1e, 0x0f}
	for i := 7; i >= 0; i-- {
		d = append(d, byte(id>>(8*i)))
	}
	return append(append(d, seq, count), data...)
}

// split cuts b into n nearly equal parts.
func split(b []byte, n int) [][]byte {
	var parts [][]byte
	size := (len(b) + n - 1) / n
	for i := 0; i < n; i++ {
		parts = append(parts, b[min(i*size, len(b)):min((i+1)*size, len(b))])
	}
	return parts
}

func udpDial(t *testing.T, s *UDPServer) net.Conn {
	t.Helper()
	c, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func send(t *testing.T, c net.Conn, datagrams ...[]byte) {
	t.Helper()
	for _, d := range datagrams {
		if n, err := c.Write(d); err != nil || n != len(d) {
			t.Fatalf("write %d bytes: wrote %d, %v", len(d), n, err)
		}
	}
}

// waitDatagrams waits until the server has read n datagrams: everything
// they cause is recorded then.
func waitDatagrams(t *testing.T, s *UDPServer, n int) {
	t.Helper()
	s.waitFor(t, wait, fmt.Sprintf("%d datagrams", n), func() bool { return s.datagrams >= n })
}

func wantStrings(t *testing.T, what string, got [][]byte, want ...string) {
	t.Helper()
	g := make([]string, len(got))
	for i, b := range got {
		g[i] = string(b)
	}
	if len(want) == 0 {
		want = []string{}
	}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("%s = %q, want %q", what, g, want)
	}
}

func TestUDPUnchunkedEncodings(t *testing.T) {
	s := NewUDPServer(t, UDPOptions{})
	if s.Endpoint() != "udp://"+s.Addr() || !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("endpoint %q, addr %q", s.Endpoint(), s.Addr())
	}
	plain := []byte(`{"version":"1.1","host":"h","short_message":"plain"}`)
	gz := gzipBytes(t, []byte(`{"version":"1.1","host":"h","short_message":"gzip"}`))
	zl := zlibBytes(t, []byte(`{"version":"1.1","host":"h","short_message":"zlib"}`))
	c := udpDial(t, s)
	send(t, c, plain, gz, zl)
	got := s.WaitForCount(t, 3, wait)
	wantStrings(t, "messages", got,
		`{"version":"1.1","host":"h","short_message":"plain"}`,
		`{"version":"1.1","host":"h","short_message":"gzip"}`,
		`{"version":"1.1","host":"h","short_message":"zlib"}`)
	if e := s.Encodings(); !reflect.DeepEqual(e, map[string]int{"none": 1, "gzip": 1, "zlib": 1}) {
		t.Errorf("encodings %v", e)
	}
	if s.Count() != 3 || s.Datagrams() != 3 || s.Chunked() != 0 || s.Incomplete() != 0 || s.Duplicates() != 0 {
		t.Errorf("count %d, datagrams %d, chunked %d, incomplete %d, duplicates %d",
			s.Count(), s.Datagrams(), s.Chunked(), s.Incomplete(), s.Duplicates())
	}
	if want := max(len(plain), len(gz), len(zl)); s.MaxDatagram() != want {
		t.Errorf("max datagram %d, want %d", s.MaxDatagram(), want)
	}
	if e := s.Errors(); len(e) != 0 {
		t.Errorf("errors %q", e)
	}
	// Messages returns copies.
	got[0][0] = 'X'
	if s.Messages()[0][0] != '{' {
		t.Error("Messages shares its storage")
	}
}

func TestUDPLargeUnchunkedDatagramIsNotTruncated(t *testing.T) {
	s := NewUDPServer(t, UDPOptions{})
	msg := []byte(`{"short_message":"` + strings.Repeat("x", 60000) + `"}`)
	send(t, udpDial(t, s), msg)
	got := s.WaitForCount(t, 1, wait)
	if !bytes.Equal(got[0], msg) {
		t.Fatalf("got %d bytes, want %d", len(got[0]), len(msg))
	}
	if s.MaxDatagram() != len(msg) {
		t.Errorf("max datagram %d, want %d", s.MaxDatagram(), len(msg))
	}
}

func TestUDPChunksOutOfOrderInterleavedDuplicate(t *testing.T) {
	s := NewUDPServer(t, UDPOptions{})
	msgA := []byte(`{"version":"1.1","host":"h","short_message":"` + strings.Repeat("a", 3000) + `"}`)
	msgB := []byte(`{"short_message":"b"}`)
	a := split(gzipBytes(t, msgA), 3)
	b := split(msgB, 2)
	const idA, idB = 0x0102030405060708, 0x1112131415161718
	c := udpDial(t, s)
	send(t, c,
		chunk(idA, 2, 3, a[2]),
		chunk(idB, 1, 2, b[1]),
		chunk(idA, 0, 3, a[0]),
		chunk(idA, 0, 3, a[0]), // duplicate
		chunk(idB, 0, 2, b[0]), // completes B
		chunk(idA, 1, 3, a[1]), // completes A
	)
	got := s.WaitForCount(t, 2, wait)
	wantStrings(t, "messages", got, string(msgB), string(msgA))
	if s.Chunked() != 2 || s.Duplicates() != 1 || s.Datagrams() != 6 || s.Incomplete() != 0 {
		t.Errorf("chunked %d, duplicates %d, datagrams %d, incomplete %d", s.Chunked(), s.Duplicates(), s.Datagrams(), s.Incomplete())
	}
	if e := s.Encodings(); !reflect.DeepEqual(e, map[string]int{"none": 1, "gzip": 1}) {
		t.Errorf("encodings %v", e)
	}
	if e := s.Errors(); len(e) != 0 {
		t.Errorf("errors %q", e)
	}
}

func TestUDPProtocolErrors(t *testing.T) {
	s := NewUDPServer(t, UDPOptions{})
	const idC, idE = 0xc0, 0xe0
	datagrams := [][]byte{
		chunk(0xa0, 3, 3, []byte("xx")),            // seq >= count
		chunk(0xa1, 0, 129, []byte("xx")),          // too many chunks
		chunk(0xa2, 0, 0, []byte("xx")),            // no chunks
		{0x1e, 0x0f, 1, 2, 3, 4, 5, 6, 7, 8},       // short header
		chunk(idC, 0, 2, []byte(`{"c":`)),          // first of 2
		chunk(idC, 1, 3, []byte(`1}`)),             // count mismatch: dropped
		chunk(idC, 1, 2, []byte(`1}`)),             // completes C
		chunk(idE, 0, 3, []byte(`{"e"`)),           // go-gelf's exact multiple of
		chunk(idE, 1, 3, []byte(`:2}`)),            // the chunk size, with
		chunk(idE, 2, 3, nil),                      // a trailing empty chunk
		{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1}, // broken gzip
		{'{'},        // too short
		[]byte("xy"), // 0x78 but not a zlib header: uncompressed
	}
	send(t, udpDial(t, s), datagrams...)
	waitDatagrams(t, s, len(datagrams))
	wantStrings(t, "messages", s.Messages(), `{"c":1}`, `{"e":2}`, "xy")
	if e := s.Encodings(); !reflect.DeepEqual(e, map[string]int{"none": 3}) {
		t.Errorf("encodings %v", e)
	}
	want := []string{
		"chunk 00000000000000a0 seq 3: seq >= count 3",
		"chunk 00000000000000a1 seq 0: count 129 out of range 1..128",
		"chunk 00000000000000a2 seq 0: count 0 out of range 1..128",
		"chunk too short: 10 bytes, the header alone is 12",
		"chunk 00000000000000c0 seq 1: count 3, earlier chunks said 2",
		"empty chunk: 00000000000000e0 seq 2 of 3",
		"gzip message: unexpected EOF",
		"message too short: 1 bytes",
	}
	if got := s.Errors(); !reflect.DeepEqual(got, want) {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s.Chunked() != 2 || s.Incomplete() != 0 {
		t.Errorf("chunked %d, incomplete %d", s.Chunked(), s.Incomplete())
	}
}

func TestUDPDecompressionIsBounded(t *testing.T) {
	s := NewUDPServer(t, UDPOptions{})
	// A message of exactly DecompressLimit bytes passes, one byte more
	// does not; both compress to one datagram.
	fill := DecompressLimit - len(`{"short_message":""}`)
	atLimit := []byte(`{"short_message":"` + strings.Repeat("z", fill) + `"}`)
	over := []byte(`{"short_message":"` + strings.Repeat("z", fill+1) + `"}`)
	c := udpDial(t, s)
	send(t, c, gzipBytes(t, over), zlibBytes(t, atLimit))
	waitDatagrams(t, s, 2)
	got := s.Messages()
	if len(got) != 1 || !bytes.Equal(got[0], atLimit) {
		t.Fatalf("got %d messages", len(got))
	}
	want := []string{"gzip message: decompressed size exceeds 8388608 bytes"}
	if e := s.Errors(); !reflect.DeepEqual(e, want) {
		t.Fatalf("errors %q, want %q", e, want)
	}
}

func TestUDPIncompleteChunkSetExpires(t *testing.T) {
	s := NewUDPServer(t, UDPOptions{ChunkTimeout: 50 * time.Millisecond})
	c := udpDial(t, s)
	send(t, c, chunk(7, 0, 2, []byte(`{"late":`)))
	s.waitFor(t, wait, "1 incomplete", func() bool { return s.incomplete >= 1 })
	// The second chunk comes too late: it starts a new set, which
	// expires too.
	send(t, c, chunk(7, 1, 2, []byte(`1}`)))
	s.waitFor(t, wait, "2 incomplete", func() bool { return s.incomplete >= 2 })
	if s.Count() != 0 || s.Incomplete() != 2 || s.Datagrams() != 2 {
		t.Fatalf("count %d, incomplete %d, datagrams %d", s.Count(), s.Incomplete(), s.Datagrams())
	}
	if e := s.Errors(); len(e) != 0 {
		t.Errorf("errors %q", e)
	}
}

func TestUDPStopRestart(t *testing.T) {
	s := NewUDPServer(t, UDPOptions{RecvBuffer: 64 << 10})
	addr := s.Addr()
	c := udpDial(t, s)
	send(t, c, []byte(`{"n":1}`), chunk(9, 0, 2, []byte(`{"n":`)))
	waitDatagrams(t, s, 2)
	s.Stop()
	if s.Incomplete() != 1 {
		t.Errorf("incomplete %d after Stop with a pending chunk set, want 1", s.Incomplete())
	}
	if runtime.GOOS == "linux" {
		// The port is closed: the kernel answers ICMP port unreachable,
		// which a connected socket reports on a later call.
		send(t, c, []byte(`{"n":"lost"}`))
		_ = c.SetReadDeadline(time.Now().Add(wait))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("read after sending to a stopped server: %v, want ECONNREFUSED", err)
		}
	}
	s.Restart(t)
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	send(t, udpDial(t, s), chunk(9, 1, 2, []byte(`2}`)), []byte(`{"n":3}`))
	waitDatagrams(t, s, 4)
	wantStrings(t, "messages", s.Messages(), `{"n":1}`, `{"n":3}`)
	// chunk 9 seq 1 came after the restart: it starts a new set, pending.
	if e := s.Errors(); len(e) != 0 {
		t.Errorf("errors %q", e)
	}
	s.Close()
	if s.Incomplete() != 2 {
		t.Errorf("incomplete %d after Close, want 2", s.Incomplete())
	}
}
