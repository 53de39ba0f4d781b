package shipper

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/audittail/audittail/internal/secret"
)

// echoServer answers every HTTP request with 401, a reason phrase holding
// reason and a body that echoes the request: its headers and its body, as
// a misconfigured or hostile server might.
func echoServer(t *testing.T, reason string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, _ := io.ReadAll(req.Body)
					var echo bytes.Buffer
					_ = req.Header.Write(&echo)
					echo.Write(body)
					fmt.Fprintf(c, "HTTP/1.1 401 %s\r\nContent-Length: %d\r\n\r\n", reason, echo.Len())
					c.Write(echo.Bytes())
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestHTTPEchoDoesNotLeakSecrets: a server that echoes the request (the
// stream token in the GELF body, the Authorization header) in its answer
// and its reason phrase puts neither into the error, the log, or the short
// reason /readyz shows.
func TestHTTPEchoDoesNotLeakSecrets(t *testing.T) {
	const token = "0f3b2c1a-5e6d-4c7b-8a9f-0123456789ab"
	const bearer = "header-credential-42"
	for _, tc := range []struct {
		name        string
		compression Compression
		wantBody    string
	}{
		{"identity body echoed", CompressNone, secret.Redacted},
		{"gzip body echoed", CompressGzip, "bytes that are not text"}, // the echo mixes text headers and gzip
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := echoServer(t, "Denied "+token)
			var secrets secret.Set
			secrets.Add(token)
			secrets.Add("Bearer " + bearer)
			secrets.Add(bearer)
			var logs syncBuffer
			s, err := New(Config{
				Endpoint:    "http://" + addr + "/gelf",
				Compression: tc.compression,
				HTTPHeaders: map[string]string{"Authorization": "Bearer " + bearer},
				BackoffMin:  10e6, BackoffMax: 50e6,
			}, zerolog.New(&logs), nil)
			if err != nil {
				t.Fatal(err)
			}
			s.RedactWith(&secrets)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			defer func() {
				cancel()
				<-done
				cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
				defer ccancel()
				_ = s.Close(cctx) // the server never accepts: nothing to drain
			}()
			msg := fmt.Appendf(nil, `{"version":"1.1","host":"h","short_message":"m","_X-OVH-TOKEN":"%s"}`, token)
			if _, err := s.Send(t.Context(), msg); err != nil {
				t.Fatal(err)
			}
			st := waitStats(t, s, "a 401", func(st Stats) bool { return strings.Contains(st.LastError, "401") })
			for what, text := range map[string]string{"LastError": st.LastError, "LastReason": st.LastReason, "log": string(logs.Bytes())} {
				for _, sec := range []string{token, bearer} {
					if strings.Contains(text, sec) {
						t.Errorf("%s contains a secret: %.600s", what, text)
					}
				}
			}
			if !strings.Contains(st.LastError, tc.wantBody) {
				t.Errorf("LastError %q: want the echoed body quoted, redacted", st.LastError)
			}
			if !strings.Contains(st.LastError, "401 Unauthorized") || strings.Contains(st.LastError, "Denied") {
				t.Errorf("LastError %q: want Go's status text, not the server's reason phrase", st.LastError)
			}
			if st.LastReason != "server answered 401 Unauthorized" {
				t.Errorf("LastReason = %q", st.LastReason)
			}
		})
	}
}

func TestBodySnippet(t *testing.T) {
	var secrets secret.Set
	secrets.Add("sekrit-value")
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"  input   disabled\n\tnow ", "input disabled now"},
		{"token sekrit-value here", "token [redacted] here"},
		{"\x1f\x8b\x08\x00binary", "(10 bytes that are not text)"},
		{"bad \xff utf-8", "(11 bytes that are not text)"},
		{strings.Repeat("é", 150), strings.Repeat("é", 100) + "..."},
	} {
		if got := bodySnippet([]byte(tc.in), &secrets); got != tc.want {
			t.Errorf("bodySnippet(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestReasonOfNetworkErrors: the short reasons of the usual network
// failures, from real sockets on 127.0.0.1.
func TestReasonOfNetworkErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = net.Dial("tcp", addr)
	if got := Reason(err); got != "connection refused" {
		t.Errorf("refused: Reason(%v) = %q", err, got)
	}
	if got := Reason(&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}); got != "cannot resolve the server's name" {
		t.Errorf("DNS: %q", got)
	}
	if got := Reason(io.EOF); got != "connection closed by the server" {
		t.Errorf("EOF: %q", got)
	}
	if got := Reason(fmt.Errorf("wrapped: %w", &HTTPStatusError{StatusCode: 413})); got != "server answered 413 Request Entity Too Large" {
		t.Errorf("413: %q", got)
	}
	if got := Reason(nil); got != "" {
		t.Errorf("nil: %q", got)
	}
}
