//go:build linux

package shipper

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/audittail/audittail/internal/gelftest"
)

// TestSocketOptionsLinux checks what the dialer sets on the socket and
// what the confirmation reads from it.
func TestSocketOptionsLinux(t *testing.T) {
	srv, pki := tlsServer(t, gelftest.Options{})
	s, _ := newShipper(t, Config{Endpoint: srv.Endpoint(), CACert: pki.CAFile, WriteTimeout: 7 * time.Second})
	if err := s.Connect(t.Context()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer func() { _ = s.Close(t.Context()) }()
	lnk := s.tr.(*streamTransport).link
	raw := lnk.raw
	if raw == nil {
		t.Fatal("no raw socket: confirmation would not wait for TCP acknowledgements")
	}
	var userTimeout, keepAlive, keepIdle int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		if userTimeout, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); gerr != nil {
			return
		}
		if keepAlive, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE); gerr != nil {
			return
		}
		keepIdle, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
	}); err != nil || gerr != nil {
		t.Fatalf("getsockopt: %v %v", err, gerr)
	}
	if userTimeout != 7000 {
		t.Errorf("TCP_USER_TIMEOUT = %d ms, want 7000 (write_timeout)", userTimeout)
	}
	if keepAlive == 0 || keepIdle != 15 {
		t.Errorf("SO_KEEPALIVE = %d, TCP_KEEPIDLE = %d s, want on and 15", keepAlive, keepIdle)
	}
	// Nothing written but the handshake, all of it acknowledged.
	deadline := time.Now().Add(wait)
	for {
		outq, established, err := unackedBytes(raw)
		if err != nil || !established {
			t.Fatalf("unackedBytes = %d, %v, %v", outq, established, err)
		}
		if outq == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIOCOUTQ still %d after %s on an idle connection", outq, wait)
		}
		time.Sleep(time.Millisecond)
	}
	if lnk.written.Load() == 0 {
		t.Error("the handshake bytes were not counted (the counting conn is not under TLS)")
	}
}

// TestUnackedBytesSeesTheConnectionEnd: once the server closed its end,
// the connection is no longer ESTABLISHED (CLOSE_WAIT), which unackedBytes
// reads from the first byte of TCP_INFO.
func TestUnackedBytesSeesTheConnectionEnd(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if outq, established, err := unackedBytes(raw); outq != 0 || !established || err != nil {
		t.Fatalf("open connection: unackedBytes = %d, %v, %v; want 0, true, nil", outq, established, err)
	}
	peer.Close()
	for deadline := time.Now().Add(wait); ; time.Sleep(time.Millisecond) {
		_, established, err := unackedBytes(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !established {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still ESTABLISHED %s after the server closed", wait)
		}
	}
}
