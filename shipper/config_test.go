package shipper

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/shipper/gelftest"
)

func TestSetDefaults(t *testing.T) {
	var c Config
	c.SetDefaults()
	want := Config{
		DialTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		BackoffMin: 500 * time.Millisecond, BackoffMax: 30 * time.Second,
		FlushInterval: 10 * time.Millisecond, WindowBytes: 8 << 20,
	}
	if c != want {
		t.Errorf("SetDefaults: %+v, want %+v", c, want)
	}
	c = Config{WindowBytes: 2 << 20, BackoffMin: time.Second}
	c.SetDefaults()
	if c.WindowBytes != 2<<20 || c.BackoffMin != time.Second {
		t.Errorf("SetDefaults overwrote set fields: %+v", c)
	}
}

func TestParseEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"tls://gra1.logs.ovh.com":     "tls://gra1.logs.ovh.com:12202",
		"tcp://gra1.logs.ovh.com":     "tcp://gra1.logs.ovh.com:2202",
		"TLS://graylog.example:12201": "tls://graylog.example:12201",
		"tcp://127.0.0.1:12201/":      "tcp://127.0.0.1:12201",
		"tls://[::1]:4000":            "tls://[::1]:4000",
		"tls://[2001:db8::1]":         "tls://[2001:db8::1]:12202",
		"-":                           "stdout",
	} {
		ep, err := parseEndpoint(in)
		if err != nil {
			t.Errorf("parseEndpoint(%q): %v", in, err)
			continue
		}
		if ep.String() != want {
			t.Errorf("parseEndpoint(%q) = %s, want %s", in, ep, want)
		}
	}
}

func TestValidate(t *testing.T) {
	pki := gelftest.NewPKI(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badCert := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(badCert, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	ok := []Config{
		{Endpoint: "-"},
		{Endpoint: "tcp://127.0.0.1"},
		{Endpoint: "tls://localhost:12202", CACert: pki.CAFile},
		{Endpoint: "tls://localhost", ClientCert: pki.ClientCertFile, ClientKey: pki.ClientKeyFile, ServerName: "graylog"},
		{Endpoint: "tls://localhost", WindowBytes: MinWindowBytes, BackoffMin: time.Second, BackoffMax: time.Second},
	}
	for _, c := range ok {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", c, err)
		}
	}

	bad := []struct {
		c    Config
		want []string // substrings of the error
	}{
		{Config{}, []string{"output.endpoint", "missing"}},
		{Config{Endpoint: "udp://host:2202"}, []string{"output.endpoint", `unsupported scheme "udp"`}},
		{Config{Endpoint: "gra1.logs.ovh.com:12202"}, []string{"output.endpoint", "missing scheme"}},
		{Config{Endpoint: "tls://:12202"}, []string{"output.endpoint", "missing host"}},
		{Config{Endpoint: "tls://host:99999"}, []string{"output.endpoint", `bad port "99999"`}},
		{Config{Endpoint: "tls://host:abc"}, []string{"output.endpoint"}},
		{Config{Endpoint: "tls://host:"}, []string{"output.endpoint", "empty port"}},
		{Config{Endpoint: "tls://host/gelf"}, []string{"output.endpoint", "path"}},
		{Config{Endpoint: "tls://host", ClientCert: pki.ClientCertFile}, []string{"output.client_cert", "output.client_key"}},
		{Config{Endpoint: "tls://host", ClientKey: pki.ClientKeyFile}, []string{"output.client_key", "output.client_cert"}},
		{Config{Endpoint: "tls://host", WindowBytes: 64 << 10}, []string{"output.window_bytes", "65536", "1048576"}},
		{Config{Endpoint: "tls://host", BackoffMin: time.Minute, BackoffMax: time.Second}, []string{"output.backoff_min", "output.backoff_max"}},
		{Config{Endpoint: "tls://host", WriteTimeout: -time.Second}, []string{"output.write_timeout", "negative"}},
		{Config{Endpoint: "tls://host", CACert: missing}, []string{"output.ca_cert", missing, "no such file"}},
		{Config{Endpoint: "tls://host", CACert: notPEM}, []string{"output.ca_cert", notPEM, "no PEM CERTIFICATE"}},
		{Config{Endpoint: "tls://host", CACert: badCert}, []string{"output.ca_cert", badCert}},
		{Config{Endpoint: "tls://host", ClientCert: missing, ClientKey: pki.ClientKeyFile}, []string{"output.client_cert", missing}},
		{Config{Endpoint: "tls://host", ClientCert: pki.ClientCertFile, ClientKey: missing}, []string{"output.client_key", missing}},
		{Config{Endpoint: "tls://host", ClientCert: pki.ClientCertFile, ClientKey: pki.ServerKeyFile}, []string{"output.client_cert", pki.ClientCertFile, pki.ServerKeyFile}},
		{Config{Endpoint: "tcp://host", CACert: pki.CAFile}, []string{"output.ca_cert", "does not use TLS"}},
		{Config{Endpoint: "-", ServerName: "x"}, []string{"output.tls_server_name", "does not use TLS"}},
	}
	for _, b := range bad {
		err := b.c.Validate()
		if err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", b.c)
			continue
		}
		for _, w := range b.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Validate(%+v) = %q, want it to contain %q", b.c, err, w)
			}
		}
		if _, nerr := New(b.c, testLogger(t), nil); nerr == nil || nerr.Error() != err.Error() {
			t.Errorf("New(%+v) = %v, want the Validate error", b.c, nerr)
		}
	}
}

func TestConnectRefusedNamesEndpoint(t *testing.T) {
	srv := gelftest.NewServer(t, gelftest.Options{})
	srv.Stop() // nothing listens there any more
	s, _ := newShipper(t, Config{Endpoint: srv.Endpoint(), DialTimeout: 5 * time.Second})
	err := s.Connect(t.Context())
	if err == nil || !strings.Contains(err.Error(), "connect "+srv.Endpoint()+": ") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Connect to a closed port: %v", err)
	}
	if st := s.Stats(); st.LastError != err.Error() || st.Connected {
		t.Errorf("stats after a failed Connect: %+v", st)
	}
}
