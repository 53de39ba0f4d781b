package shipper

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// GELF UDP (Graylog documentation, "GELF via UDP"): a message is compressed as a whole,
// then sent in one datagram if it fits in ChunkSize, otherwise in chunks of
// at most ChunkSize bytes, each with a 12-byte header: the magic 0x1e 0x0f,
// an 8-byte message id, the chunk's sequence number and the chunk count.
// Graylog accepts at most 128 chunks per message and discards a message
// whose chunks do not all arrive within 5 s.
//
// Why not go-gelf's UDPWriter: its chunk size is a constant 1420; it sends
// an extra empty chunk when the payload is an exact multiple of the chunk
// data size; and it only sends a gelf.Message, which it marshals again with
// encoding/json, so it cannot carry the messages pkg/gelf encodes (with
// their field order, escaping and size cap). The chunking below is the
// spec's, and is tested against a strict reassembling server.
const (
	chunkHeaderSize = 12
	maxChunks       = 128
)

var chunkMagic = [2]byte{0x1e, 0x0f}

// TooLargeError is returned (wrapped) by Send for a message the transport
// cannot carry at its size: a udp:// message larger than 128 chunks once
// compressed, or an http(s):// message larger than HTTPMaxBodyBytes. The
// caller should encode the message again, smaller (pkg/gelf truncates in a
// defined order), and send that instead: nothing is dropped.
type TooLargeError struct {
	Endpoint string
	Size     int // the message's size as the transport measures it (compressed for udp:// unless compression is none)
	Limit    int // the largest size the transport accepts, in the same unit
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("message of %d bytes exceeds the %d bytes %s can carry", e.Size, e.Limit, e.Endpoint)
}

// TooLarge returns the message's size and the limit, in the transport's
// unit; a caller shrinks the message by at least Limit/Size.
func (e *TooLargeError) TooLarge() (size, limit int) { return e.Size, e.Limit }

// compressor compresses UDP payloads; one per concurrent Send (sync.Pool).
type compressor struct {
	buf  bytes.Buffer
	gz   *gzip.Writer
	zlib *zlib.Writer
}

// udpTransport is udp://: each message compressed as a whole and sent in
// one datagram or in chunks; confirmed once the kernel took its datagrams.
type udpTransport struct {
	s           *Shipper
	link        *udpLink  // the socket; nil when none
	compressors sync.Pool // *compressor
}

// frame compresses msg as configured into a new slice, the payload the
// window keeps. It returns a *TooLargeError if the payload needs more than
// 128 chunks.
func (t *udpTransport) frame(msg []byte) (framed, error) {
	s := t.s
	if len(msg) == 0 {
		return framed{}, fmt.Errorf("%w: empty", ErrInvalidMessage)
	}
	var out []byte
	switch s.cfg.Compression {
	case CompressNone:
		out = bytes.Clone(msg)
	default:
		c, _ := t.compressors.Get().(*compressor)
		if c == nil {
			c = &compressor{}
		}
		defer t.compressors.Put(c)
		c.buf.Reset()
		var w io.WriteCloser
		if s.cfg.Compression == CompressZlib {
			if c.zlib == nil {
				c.zlib, _ = zlib.NewWriterLevel(&c.buf, flate.BestSpeed)
			} else {
				c.zlib.Reset(&c.buf)
			}
			w = c.zlib
		} else {
			if c.gz == nil {
				c.gz, _ = gzip.NewWriterLevel(&c.buf, flate.BestSpeed)
			} else {
				c.gz.Reset(&c.buf)
			}
			w = c.gz
		}
		// Writes to a bytes.Buffer cannot fail.
		_, _ = w.Write(msg)
		_ = w.Close()
		out = bytes.Clone(c.buf.Bytes())
	}
	if limit := t.maxPayload(); len(out) > limit {
		return framed{}, &TooLargeError{Endpoint: s.ep.String(), Size: len(out), Limit: limit}
	}
	return framed{payload: out}, nil
}

// maxPayload is the largest payload 128 chunks carry.
func (t *udpTransport) maxPayload() int { return maxChunks * (t.s.cfg.ChunkSize - chunkHeaderSize) }

// udpLink is the UDP socket and its chunk buffer. Only the owner uses it.
type udpLink struct {
	conn      *net.UDPConn
	chunkSize int
	buf       []byte // one datagram
}

// dial resolves the endpoint and opens a connected UDP socket. There is
// no handshake: a server that is down shows up only as a failed later
// write (ICMP port unreachable), if at all.
func (t *udpTransport) dial(ctx context.Context) (*udpLink, error) {
	s := t.s
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", s.ep.addr())
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UDPConn)
	if !ok { // cannot happen with network "udp"
		_ = c.Close()
		return nil, fmt.Errorf("dial returned %T, not a UDP socket", c)
	}
	return &udpLink{conn: uc, chunkSize: s.cfg.ChunkSize, buf: make([]byte, s.cfg.ChunkSize)}, nil
}

// write sends one payload: one datagram if it fits, else chunks. It
// returns the bytes written. A payload never needs more than 128 chunks
// (frame checked).
func (u *udpLink) write(p []byte, deadline time.Time) (int, error) {
	if err := u.conn.SetWriteDeadline(deadline); err != nil {
		return 0, err
	}
	if len(p) <= u.chunkSize {
		return u.conn.Write(p)
	}
	data := u.chunkSize - chunkHeaderSize
	count := (len(p) + data - 1) / data // no empty trailing chunk
	if count > maxChunks {
		return 0, fmt.Errorf("payload of %d bytes needs %d chunks (max %d)", len(p), count, maxChunks)
	}
	id := rand.Uint64()
	total := 0
	for seq := 0; seq < count; seq++ {
		part := p[seq*data : min((seq+1)*data, len(p))]
		b := u.buf[:chunkHeaderSize]
		b[0], b[1] = chunkMagic[0], chunkMagic[1]
		binary.BigEndian.PutUint64(b[2:10], id)
		b[10], b[11] = byte(seq), byte(count)
		b = append(b, part...)
		n, err := u.conn.Write(b)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// connect opens the socket (only resolving the name can fail).
func (t *udpTransport) connect(ctx context.Context) error {
	if t.link != nil {
		return nil
	}
	if err := t.open(ctx); err != nil {
		err = t.s.connectError(err)
		t.s.setLastErr(err)
		return err
	}
	return nil
}

// drive is the owner's loop for udp://. A message is confirmed as soon
// as its datagrams were written: UDP gives no delivery guarantee, and the
// checkpoint moves past what was handed to the kernel. A write error (the
// server's host answered an earlier datagram with ICMP port unreachable,
// no route, ...) re-sends the same message after a backoff.
func (t *udpTransport) drive(ctx context.Context) error {
	s := t.s
	for {
		if s.win.drained() {
			return nil
		}
		if t.link == nil {
			if err := s.connectLoop(ctx, t.open); err != nil {
				return err
			}
			continue
		}
		batch, first := s.win.pending(0, s.batch[:0])
		if len(batch) == 0 {
			s.batch = batch
			if err := s.idle(ctx); err != nil {
				return err
			}
			continue
		}
		sent := 0
		var err error
		for _, p := range batch {
			var n int
			n, err = t.link.write(p, time.Now().Add(s.cfg.WriteTimeout))
			s.bytesWritten.Add(uint64(n))
			if err != nil {
				break
			}
			sent++
		}
		s.noteWritten(first, sent)
		clear(batch)
		s.batch = batch[:0]
		if sent > 0 {
			s.progressed(first + uint64(sent) - 1)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The socket is kept: a connected UDP socket reports an ICMP
			// error once and then works again.
			s.attemptFailed(fmt.Errorf("write to %s: %w", s.ep, err), "UDP write failed; retrying the message")
			if err := s.backoff(ctx); err != nil {
				return err
			}
		}
	}
}

// open opens the UDP socket and installs it. Only resolving the name can
// fail (while DNS is down, say); connectLoop retries it with backoff.
func (t *udpTransport) open(ctx context.Context) error {
	u, err := t.dial(ctx)
	if err != nil {
		return err
	}
	t.link = u
	t.s.setConnected(true)
	if t.s.down.start.IsZero() {
		t.s.log.Info().Msg("UDP socket ready (GELF UDP has no delivery guarantee)")
	}
	return nil
}

func (t *udpTransport) shut(bool) {
	if t.link != nil {
		_ = t.link.conn.Close()
		t.link = nil
		t.s.setConnected(false)
	}
}
