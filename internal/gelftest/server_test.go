package gelftest

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

func dial(t *testing.T, s *Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

func TestServerSplitsFramesAcrossWrites(t *testing.T) {
	s := NewServer(t, Options{})
	c := dial(t, s)
	for _, chunk := range []string{"one\x00tw", "o\x00", "\x00three\x00par"} {
		if _, err := c.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // separate reads on the server side
	}
	_ = c.Close()
	got := s.WaitForCount(t, 4, 5*time.Second)
	want := []string{"one", "two", "", "three"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Fatalf("frame %d = %q, want %q", i, got[i], want[i])
		}
	}
	s.WaitFor(t, 5*time.Second, "the torn frame", func([][]byte) bool { return s.partial == 1 })
}

func TestServerTLSStopRestart(t *testing.T) {
	pki := NewPKI(t)
	s := NewServer(t, Options{TLS: pki.ServerTLS(tls.NoClientCert)})
	cfg := &tls.Config{RootCAs: pki.CAPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	send := func(msg string) {
		c, err := tls.Dial("tcp", s.Addr(), cfg)
		if err != nil {
			t.Fatalf("tls dial: %v", err)
		}
		if _, err := c.Write([]byte(msg + "\x00")); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	send("before")
	s.WaitForCount(t, 1, 5*time.Second)
	addr := s.Addr()
	s.Stop()
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("a stopped server accepted a connection")
	}
	s.Restart(t)
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	send("after")
	got := s.WaitForCount(t, 2, 5*time.Second)
	if string(got[0]) != "before" || string(got[1]) != "after" {
		t.Fatalf("got %q", got)
	}
	if s.Accepted() != 2 {
		t.Errorf("accepted %d connections, want 2", s.Accepted())
	}
}

func TestServerResetAllReadsWhatArrived(t *testing.T) {
	s := NewServer(t, Options{})
	c := dial(t, s)
	s.WaitForConnections(t, 1, 5*time.Second)
	s.StopReading()
	if _, err := c.Write([]byte("a\x00b\x00")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the bytes reach the server's kernel
	s.ResetAll()
	if got := s.Messages(); len(got) != 2 {
		t.Fatalf("after ResetAll the server has %q, want the 2 frames that had arrived", got)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read from a reset connection succeeded")
	}
}
