package gelftest

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"testing"
	"time"
)

// GELF UDP framing and limits, as in Graylog's GELF UDP input
// (GelfChunkAggregator, GELFMessage, GelfCodec).
const (
	chunkMagic0     = 0x1e
	chunkMagic1     = 0x0f
	chunkHeaderSize = 12  // magic (2), message id (8), sequence number (1), count (1)
	maxChunks       = 128 // per message
	// DefaultChunkTimeout is how long the chunks of one message may take
	// to arrive, counted from the first one (Graylog's VALIDITY_PERIOD).
	DefaultChunkTimeout = 5 * time.Second
	// DecompressLimit bounds a decompressed UDP message (Graylog's
	// decompress_size_limit default, 8 MiB).
	DecompressLimit = 8 << 20
	// udpReadBuffer is the per-datagram read buffer: larger than any UDP
	// datagram, so none is ever truncated (Graylog reads into 256 KiB).
	udpReadBuffer = 256 << 10
)

// UDPOptions configures a UDPServer. The zero value is a server on a free
// port of 127.0.0.1 with Graylog's 5 s chunk timeout.
type UDPOptions struct {
	// Addr is the address to listen on; default "127.0.0.1:0" (a free
	// port). Set it to another server's Addr to replace that server.
	Addr string
	// RecvBuffer, when > 0, is set as SO_RCVBUF on the socket (Linux
	// doubles the value). Datagrams that do not fit are dropped by the
	// kernel, as they would be by a busy Graylog.
	RecvBuffer int
	// ChunkTimeout is how long a chunked message may take to arrive
	// completely, counted from its first chunk; default 5s (Graylog's).
	ChunkTimeout time.Duration
}

// UDPServer is a GELF UDP input for tests, as strict as Graylog's: it
// reassembles chunked messages (magic 0x1e 0x0f, 8-byte id, 0-based
// sequence number, count 1..128, all chunks within ChunkTimeout),
// detects gzip, zlib or uncompressed payloads by their first bytes, and
// records protocol errors that Graylog would log (or silently tolerate,
// as empty chunks) so that tests can assert there are none.
//
// All datagrams are handled by one goroutine, in arrival order; the
// counters, Errors and Messages a datagram affects are updated together,
// so once WaitForCount returns, the errors caused by the chunks of those
// messages are visible. Its methods are safe for concurrent use; the ones
// taking a testing.TB must be called from the test goroutine.
type UDPServer struct {
	opts    UDPOptions
	addr    string
	timeout time.Duration

	inbox       // the messages; its mu guards the fields below too
	conn        net.PacketConn
	done        chan struct{} // closed when the read loop of conn returned
	listening   bool
	closed      bool
	sets        map[[8]byte]*chunkSet
	datagrams   int
	maxDatagram int
	encodings   map[string]int
	chunked     int
	incomplete  int
	duplicates  int
	errs        []string
}

// chunkSet is the chunks of one message received so far.
type chunkSet struct {
	count int
	parts [][]byte
	seen  []bool
	have  int
	first time.Time
	timer *time.Timer
}

// NewUDPServer starts a GELF UDP server on 127.0.0.1, on a free port
// unless opts.Addr says otherwise. It is stopped by t.Cleanup.
func NewUDPServer(t testing.TB, opts UDPOptions) *UDPServer {
	t.Helper()
	s := &UDPServer{
		opts:      opts,
		timeout:   opts.ChunkTimeout,
		sets:      map[[8]byte]*chunkSet{},
		encodings: map[string]int{},
	}
	s.setup(false, s.reportLocked) // a UDPServer keeps every message
	if s.timeout <= 0 {
		s.timeout = DefaultChunkTimeout
	}
	start(t, opts.Addr, s.listen, s.Close)
	return s
}

// Addr returns the listening address, host:port. It does not change across
// Stop and Restart.
func (s *UDPServer) Addr() string { return s.addr }

// Endpoint returns the shipper endpoint for this server: udp://ADDR.
func (s *UDPServer) Endpoint() string { return "udp://" + s.addr }

func (s *UDPServer) listen(addr string) error {
	lc := net.ListenConfig{Control: controlRecvBuffer(s.opts.RecvBuffer)}
	conn, err := bind(addr, func(addr string) (net.PacketConn, error) {
		return lc.ListenPacket(context.Background(), "udp", addr)
	})
	if err != nil {
		return fmt.Errorf("listen on udp %s: %w", addr, err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.conn = conn
	s.done = done
	s.addr = conn.LocalAddr().String()
	s.listening = true
	s.mu.Unlock()
	go s.readLoop(conn, done)
	return nil
}

func (s *UDPServer) readLoop(conn net.PacketConn, done chan struct{}) {
	defer close(done)
	buf := make([]byte, udpReadBuffer)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.mu.Lock()
			s.errs = append(s.errs, "read: "+err.Error())
			s.signalLocked()
			s.mu.Unlock()
			time.Sleep(time.Millisecond) // do not spin on a persistent error
			continue
		}
		s.handle(bytes.Clone(buf[:n]))
	}
}

// handle processes one datagram.
func (s *UDPServer) handle(d []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.signalLocked()
	s.datagrams++
	s.maxDatagram = max(s.maxDatagram, len(d))
	if len(d) < 2 || d[0] != chunkMagic0 || d[1] != chunkMagic1 {
		s.completeLocked(d, false)
		return
	}
	if len(d) < chunkHeaderSize {
		s.errs = append(s.errs, fmt.Sprintf("chunk too short: %d bytes, the header alone is %d", len(d), chunkHeaderSize))
		return
	}
	var id [8]byte
	copy(id[:], d[2:10])
	seq, count := int(d[10]), int(d[11])
	if count < 1 || count > maxChunks {
		s.errs = append(s.errs, fmt.Sprintf("chunk %x seq %d: count %d out of range 1..%d", id, seq, count, maxChunks))
		return
	}
	if seq >= count {
		s.errs = append(s.errs, fmt.Sprintf("chunk %x seq %d: seq >= count %d", id, seq, count))
		return
	}
	set := s.sets[id]
	if set != nil && time.Since(set.first) > s.timeout { // its timer has not run yet
		s.expireLocked(id, set)
		set = nil
	}
	if set == nil {
		set = &chunkSet{count: count, parts: make([][]byte, count), seen: make([]bool, count), first: time.Now()}
		s.sets[id] = set
		set.timer = time.AfterFunc(s.timeout, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.sets[id] == set {
				s.expireLocked(id, set)
				s.signalLocked()
			}
		})
	}
	if count != set.count {
		s.errs = append(s.errs, fmt.Sprintf("chunk %x seq %d: count %d, earlier chunks said %d", id, seq, count, set.count))
		return
	}
	data := d[chunkHeaderSize:]
	if len(data) == 0 {
		// Graylog concatenates it harmlessly; it is still a wasted
		// datagram (go-gelf's off-by-one on exact multiples).
		s.errs = append(s.errs, fmt.Sprintf("empty chunk: %x seq %d of %d", id, seq, count))
	}
	if set.seen[seq] {
		s.duplicates++
		return
	}
	set.seen[seq] = true
	set.parts[seq] = data
	set.have++
	if set.have < set.count {
		return
	}
	set.timer.Stop()
	delete(s.sets, id)
	s.completeLocked(bytes.Join(set.parts, nil), set.count > 1)
}

// expireLocked discards an incomplete chunk set.
func (s *UDPServer) expireLocked(id [8]byte, set *chunkSet) {
	set.timer.Stop()
	delete(s.sets, id)
	s.incomplete++
}

// completeLocked decodes a whole (reassembled) message and records it or
// its error.
func (s *UDPServer) completeLocked(payload []byte, chunked bool) {
	if len(payload) < 2 {
		s.errs = append(s.errs, fmt.Sprintf("message too short: %d bytes", len(payload)))
		return
	}
	enc := sniffEncoding(payload)
	msg, err := decompress(enc, payload, DecompressLimit)
	if err != nil {
		s.errs = append(s.errs, fmt.Sprintf("%s message: %v", enc, err))
		return
	}
	s.recordLocked(msg)
	s.encodings[enc]++
	if chunked {
		s.chunked++
	}
}

// reportLocked says what the server got, for a wait that timed out.
func (s *UDPServer) reportLocked() string {
	return fmt.Sprintf("got %d messages from %d datagrams, %d incomplete, %d pending chunk sets, errors %q",
		len(s.msgs), s.datagrams, s.incomplete, len(s.sets), s.errs)
}

// Messages returns a copy of every complete message received so far,
// reassembled and decompressed, in completion order (for chunked messages,
// the arrival of their last missing chunk).
func (s *UDPServer) Messages() [][]byte { return s.messages() }

// Count returns the number of complete messages received so far (those
// Messages returns). Messages that failed to decompress are not counted.
func (s *UDPServer) Count() int { return s.count() }

// Datagrams returns how many datagrams the server read, valid or not.
func (s *UDPServer) Datagrams() int {
	return locked(&s.inbox, func() int { return s.datagrams })
}

// MaxDatagram returns the size in bytes of the largest datagram read.
func (s *UDPServer) MaxDatagram() int {
	return locked(&s.inbox, func() int { return s.maxDatagram })
}

// Encodings returns how many complete messages used each payload
// encoding, keyed "gzip", "zlib" or "none" (a fresh map).
func (s *UDPServer) Encodings() map[string]int {
	return locked(&s.inbox, func() map[string]int { return maps.Clone(s.encodings) })
}

// Chunked returns how many complete messages came in more than one chunk.
func (s *UDPServer) Chunked() int {
	return locked(&s.inbox, func() int { return s.chunked })
}

// Incomplete returns how many chunk sets were discarded before they were
// complete: expired ChunkTimeout after their first chunk, or pending when
// the server was stopped.
func (s *UDPServer) Incomplete() int {
	return locked(&s.inbox, func() int { return s.incomplete })
}

// Duplicates returns how many chunks were ignored because a chunk with the
// same message id and sequence number was already pending.
func (s *UDPServer) Duplicates() int {
	return locked(&s.inbox, func() int { return s.duplicates })
}

// Errors returns the protocol errors seen so far, in order. Each is one of
// (ID is the message id in hex):
//
//	chunk too short: N bytes, the header alone is 12
//	chunk ID seq S: count C out of range 1..128
//	chunk ID seq S: seq >= count C
//	chunk ID seq S: count C, earlier chunks said C0
//	empty chunk: ID seq S of C          (the chunk is still used)
//	message too short: N bytes          (a whole message under 2 bytes)
//	gzip message: ERR, zlib message: ERR, none message: ERR
//	                                    (decompression failed, or ERR is
//	                                    "decompressed size exceeds 8388608 bytes")
//
// A chunk with an error other than "empty chunk" is dropped.
func (s *UDPServer) Errors() []string {
	return locked(&s.inbox, func() []string { return append([]string(nil), s.errs...) })
}

// WaitForCount waits until at least n complete messages arrived (Count >=
// n) and returns them (as Messages does). It fails the test after timeout,
// saying what it got.
func (s *UDPServer) WaitForCount(t testing.TB, n int, timeout time.Duration) [][]byte {
	t.Helper()
	return s.waitForCount(t, n, timeout, "messages")
}

// Stop takes the server down: it closes the socket, so the port is free
// and datagrams sent to it get an ICMP port unreachable (a connected
// client socket then sees ECONNREFUSED). Pending chunk sets are discarded
// and counted in Incomplete, as a restarting Graylog loses them. It
// returns once the read goroutine ended, so Messages is final.
func (s *UDPServer) Stop() {
	s.mu.Lock()
	if !s.listening {
		s.mu.Unlock()
		return
	}
	s.listening = false
	conn, done := s.conn, s.done
	s.mu.Unlock()
	_ = conn.Close()
	<-done
	s.mu.Lock()
	for id, set := range s.sets {
		s.expireLocked(id, set)
	}
	s.signalLocked()
	s.mu.Unlock()
}

// Restart brings a stopped server back on the same address. Everything
// recorded before is kept.
func (s *UDPServer) Restart(t testing.TB) {
	t.Helper()
	if locked(&s.inbox, func() bool { return s.listening || s.closed }) {
		t.Fatalf("gelftest: Restart of a UDP server that is up or closed")
	}
	relisten(t, s.listen, s.addr)
}

// Close stops the server for good. NewUDPServer registers it with
// t.Cleanup.
func (s *UDPServer) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.Stop()
}

// sniffEncoding detects a GELF payload's compression by its first bytes,
// as Graylog does: "gzip" (1f 8b), "zlib" (78 xx with CMF*256+FLG a
// multiple of 31) or "none".
func sniffEncoding(b []byte) string {
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return "gzip"
	case len(b) >= 2 && b[0] == 0x78 && (int(b[0])<<8|int(b[1]))%31 == 0:
		return "zlib"
	}
	return "none"
}

// errTooLarge is returned by decompress when the output exceeds its limit.
type errTooLarge int

func (e errTooLarge) Error() string { return fmt.Sprintf("decompressed size exceeds %d bytes", int(e)) }

// decompress decodes b as enc ("gzip", "zlib", "deflate" for zlib or raw
// deflate, anything else: as is) and fails with errTooLarge when the
// result is larger than limit bytes.
func decompress(enc string, b []byte, limit int) ([]byte, error) {
	var (
		r   io.Reader
		err error
	)
	switch enc {
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(b))
	case "zlib":
		r, err = zlib.NewReader(bytes.NewReader(b))
	case "deflate": // HTTP's deflate is zlib, but Netty also takes raw deflate
		if sniffEncoding(b) == "zlib" {
			r, err = zlib.NewReader(bytes.NewReader(b))
		} else {
			r = flate.NewReader(bytes.NewReader(b))
		}
	default:
		if len(b) > limit {
			return nil, errTooLarge(limit)
		}
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, errTooLarge(limit)
	}
	return out, nil
}
