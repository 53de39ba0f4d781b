package shipper

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/gelftest"
)

// sendN sends n test messages of varied sizes and returns them.
func sendN(t *testing.T, s *Shipper, n, from int) [][]byte {
	t.Helper()
	var msgs [][]byte
	for i := from; i < from+n; i++ {
		m := gelfMessage(i, 100+i*53%3000)
		if _, err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func checkSame(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("server got %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("message %d differs:\n got %.100q\nwant %.100q", i, got[i], want[i])
		}
	}
}

// TestHTTPDelivery: one message per request (Graylog's default input) and
// bulk requests, gzip or not. Every message arrives once, in order, each
// request within the body limit; a 202 confirms.
func TestHTTPDelivery(t *testing.T) {
	for _, tc := range []struct {
		name        string
		bulk        bool
		compression Compression
		encoding    string
	}{
		{"single gzip", false, "", "gzip"},
		{"single identity", false, CompressNone, "identity"},
		{"bulk gzip", true, CompressGzip, "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := gelftest.NewHTTPServer(t, gelftest.HTTPOptions{Bulk: tc.bulk})
			s, conf := newShipper(t, Config{Endpoint: srv.URL(), HTTPBulk: tc.bulk, Compression: tc.compression})
			if err := s.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			if !s.Stats().Connected {
				t.Error("not connected after Connect")
			}
			startRun(t, s)
			n := 300
			if tc.bulk {
				n = 3000
			}
			msgs := sendN(t, s, n, 1)
			checkSame(t, srv.WaitForCount(t, n, wait), msgs)
			st := waitConfirmed(t, s, uint64(n))
			if st.Unconfirmed != 0 || st.Resent != 0 || conf.Last() != uint64(n) {
				t.Errorf("stats %+v, last confirmation %d", st, conf.Last())
			}
			if bad := srv.Invalid(); len(bad) != 0 {
				t.Fatalf("server found invalid bodies: %.200q", bad)
			}
			if got := srv.Statuses(); got[http.StatusAccepted] != srv.Requests() {
				t.Errorf("statuses %v for %d requests", got, srv.Requests())
			}
			if got := srv.Encodings()[tc.encoding]; got != srv.Requests() {
				t.Errorf("encodings %v, want %d %s", srv.Encodings(), srv.Requests(), tc.encoding)
			}
			per := srv.MaxMessagesPerRequest()
			if !tc.bulk && per != 1 || tc.bulk && per < 10 {
				t.Errorf("at most %d messages per request (bulk %v)", per, tc.bulk)
			}
			if tc.bulk && srv.Requests() >= n/10 {
				t.Errorf("%d requests for %d messages in bulk mode", srv.Requests(), n)
			}
			if srv.Connections() > 2 {
				t.Errorf("%d connections for %d requests: keep-alive not used", srv.Connections(), srv.Requests())
			}
		})
	}
}

// TestHTTPRetries: 503 with Retry-After, 500, and a server that goes away
// and comes back: the refused requests are retried with backoff, nothing is
// confirmed before the 202, nothing is lost, and the error names the status.
func TestHTTPRetries(t *testing.T) {
	srv := gelftest.NewHTTPServer(t, gelftest.HTTPOptions{Bulk: true})
	s, _ := newShipper(t, Config{Endpoint: srv.URL(), HTTPBulk: true})
	startRun(t, s)

	srv.FailNext(2, http.StatusServiceUnavailable, "0")
	msgs := sendN(t, s, 50, 1)
	checkSame(t, srv.WaitForCount(t, 50, wait), msgs)
	st := waitConfirmed(t, s, 50)
	if srv.Statuses()[503] != 2 || st.Resent == 0 {
		t.Errorf("statuses %v, resent %d: want two 503s and re-sends", srv.Statuses(), st.Resent)
	}
	if !strings.Contains(st.LastError, "503 Service Unavailable") || !strings.Contains(st.LastError, srv.URL()) {
		t.Errorf("LastError %q", st.LastError)
	}

	srv.FailNext(1000, http.StatusInternalServerError, "")
	more := sendN(t, s, 10, 51)
	waitStats(t, s, "a 500 reported", func(st Stats) bool {
		return strings.Contains(st.LastError, "500 Internal Server Error") && !st.Connected
	})
	if st := s.Stats(); st.Confirmed != 50 {
		t.Fatalf("confirmed %d while the server answers 500", st.Confirmed)
	}
	srv.FailNext(0, 0, "")
	srv.Stop()
	waitStats(t, s, "a connection error", func(st Stats) bool { return strings.Contains(st.LastError, "refused") })
	srv.Restart(t)
	waitConfirmed(t, s, 60)
	checkSame(t, srv.WaitForCount(t, 60, wait), append(msgs, more...))
}

// TestHTTPRefusals: the usual mistakes give an error that says what to
// fix, and the messages wait (nothing is confirmed, nothing dropped) until
// the configuration is right.
func TestHTTPRefusals(t *testing.T) {
	t.Run("missing authorization", func(t *testing.T) {
		srv := gelftest.NewHTTPServer(t, gelftest.HTTPOptions{AuthHeader: "Authorization", AuthValue: "Bearer s3cret"})
		s, _ := newShipper(t, Config{Endpoint: srv.URL()})
		startRun(t, s)
		sendN(t, s, 3, 1)
		st := waitStats(t, s, "a 401", func(st Stats) bool { return strings.Contains(st.LastError, "401") })
		if !strings.Contains(st.LastError, "output.http_headers") || st.Confirmed != 0 || srv.Count() != 0 {
			t.Fatalf("stats %+v", st)
		}

		ok, _ := newShipper(t, Config{Endpoint: srv.URL(), HTTPHeaders: map[string]string{"Authorization": "Bearer s3cret"}})
		startRun(t, ok)
		msgs := sendN(t, ok, 3, 1)
		checkSame(t, srv.WaitForCount(t, 3, wait), msgs)
	})
	t.Run("wrong path", func(t *testing.T) {
		srv := gelftest.NewHTTPServer(t, gelftest.HTTPOptions{})
		s, _ := newShipper(t, Config{Endpoint: "http://" + srv.Addr() + "/input"})
		startRun(t, s)
		sendN(t, s, 1, 1)
		st := waitStats(t, s, "a 404", func(st Stats) bool { return strings.Contains(st.LastError, "404") })
		if !strings.Contains(st.LastError, "/gelf") || st.Confirmed != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("input body limit below ours", func(t *testing.T) {
		// The input takes 16 KiB; we send up to 64 KiB per request: 413,
		// then fewer messages per request until they fit.
		srv := gelftest.NewHTTPServer(t, gelftest.HTTPOptions{Bulk: true, MaxBodyBytes: 16 << 10})
		s, _ := newShipper(t, Config{Endpoint: srv.URL(), HTTPBulk: true})
		startRun(t, s)
		msgs := sendN(t, s, 200, 1)
		checkSame(t, srv.WaitForCount(t, 200, wait), msgs)
		if srv.Statuses()[413] == 0 {
			t.Error("no 413: the test did not exceed the input's limit")
		}
		waitConfirmed(t, s, 200)
	})
}

// TestHTTPTooLarge: a message larger than http_max_body_bytes is refused
// by Send with a *TooLargeError, and MaxMessageBytes says the bound.
func TestHTTPTooLarge(t *testing.T) {
	srv := gelftest.NewHTTPServer(t, gelftest.HTTPOptions{})
	s, _ := newShipper(t, Config{Endpoint: srv.URL()})
	if s.MaxMessageBytes() != DefaultHTTPMaxBody-1 {
		t.Fatalf("MaxMessageBytes() = %d", s.MaxMessageBytes())
	}
	_, err := s.Send(t.Context(), gelfMessage(1, DefaultHTTPMaxBody))
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit != DefaultHTTPMaxBody-1 {
		t.Fatalf("Send over the limit: %v", err)
	}
	startRun(t, s)
	m := gelfMessage(2, 0)
	m = gelfMessage(2, DefaultHTTPMaxBody-1-len(m)) // exactly the limit
	if _, err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	checkSame(t, srv.WaitForCount(t, 1, wait), [][]byte{m})
}

// TestHTTPSMutualTLS: https:// with a client certificate against an input
// that requires one; without it, Connect says the server wants one.
func TestHTTPSMutualTLS(t *testing.T) {
	pki := gelftest.NewPKI(t)
	srv := gelftest.NewHTTPServer(t, gelftest.HTTPOptions{TLS: pki.ServerTLS(tls.RequireAndVerifyClientCert)})

	anon, _ := newShipper(t, Config{Endpoint: srv.URL(), CACert: pki.CAFile})
	err := anon.Connect(t.Context())
	if err == nil || !strings.Contains(err.Error(), "connect "+srv.URL()) || !strings.Contains(err.Error(), "client_cert") {
		t.Fatalf("Connect without a client certificate: %v", err)
	}

	s, _ := newShipper(t, Config{Endpoint: srv.URL(), CACert: pki.CAFile, ClientCert: pki.ClientCertFile, ClientKey: pki.ClientKeyFile})
	if err := s.Connect(t.Context()); err != nil {
		t.Fatalf("Connect with a client certificate: %v", err)
	}
	startRun(t, s)
	msgs := sendN(t, s, 20, 1)
	checkSame(t, srv.WaitForCount(t, 20, wait), msgs)
	waitConfirmed(t, s, 20)
}

// TestCertificateErrors: for tls:// and https://, an unknown CA, an
// expired certificate and a certificate for another host each give an
// error that names the endpoint, the reason and the setting to check; and
// tls_server_name fixes the wrong-host case.
func TestCertificateErrors(t *testing.T) {
	pki := gelftest.NewPKI(t)
	other := gelftest.NewPKI(t)
	start := func(t *testing.T, scheme string, cfg *tls.Config) string {
		if scheme == "tls" {
			return gelftest.NewServer(t, gelftest.Options{TLS: cfg}).Endpoint()
		}
		return gelftest.NewHTTPServer(t, gelftest.HTTPOptions{TLS: cfg}).URL()
	}
	for _, scheme := range []string{"tls", "https"} {
		for _, tc := range []struct {
			name   string
			server *tls.Config
			cfg    Config
			want   []string
			reason string
		}{
			{"unknown CA", pki.ServerTLS(tls.NoClientCert), Config{CACert: other.CAFile}, []string{"certificate signed by unknown authority", "ca_cert " + other.CAFile}, "TLS: server certificate not trusted"},
			{"no CA configured", pki.ServerTLS(tls.NoClientCert), Config{}, []string{"certificate signed by unknown authority", "set ca_cert"}, "TLS: server certificate not trusted"},
			{"expired", pki.ExpiredServerTLS(), Config{CACert: pki.CAFile}, []string{"certificate has expired", "dates and the local clock"}, "TLS: server certificate expired or not yet valid"},
			{"wrong host", pki.WrongHostServerTLS(), Config{CACert: pki.CAFile}, []string{"cannot validate certificate for 127.0.0.1", "set tls_server_name"}, "TLS: server certificate issued for another name"},
		} {
			t.Run(scheme+"/"+tc.name, func(t *testing.T) {
				cfg := tc.cfg
				cfg.Endpoint = start(t, scheme, tc.server)
				s, _ := newShipper(t, cfg)
				err := s.Connect(t.Context())
				if err == nil {
					t.Fatal("Connect succeeded")
				}
				for _, w := range append(tc.want, "connect "+cfg.Endpoint+": ") {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				if got := Reason(err); got != tc.reason || s.Stats().LastReason != tc.reason {
					t.Errorf("Reason = %q, Stats().LastReason = %q, want %q", got, s.Stats().LastReason, tc.reason)
				}
			})
		}
		t.Run(scheme+"/tls_server_name", func(t *testing.T) {
			endpoint := start(t, scheme, pki.WrongHostServerTLS())
			s, _ := newShipper(t, Config{Endpoint: endpoint, CACert: pki.CAFile, ServerName: "wrong.example"})
			if err := s.Connect(t.Context()); err != nil {
				t.Fatalf("Connect with tls_server_name: %v", err)
			}
			startRun(t, s)
			sendN(t, s, 1, 1)
			waitConfirmed(t, s, 1)
		})
	}
}

// TestHTTPCloseDrains: Close waits for the last request's 202.
func TestHTTPCloseDrains(t *testing.T) {
	srv := gelftest.NewHTTPServer(t, gelftest.HTTPOptions{Bulk: true})
	s, _ := newShipper(t, Config{Endpoint: srv.URL(), HTTPBulk: true})
	startRun(t, s)
	msgs := sendN(t, s, 500, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := s.Stats(); st.Confirmed != 500 {
		t.Fatalf("Close returned with %d of 500 confirmed", st.Confirmed)
	}
	checkSame(t, srv.Messages(), msgs)
}
