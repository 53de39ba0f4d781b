package shipper

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/gelftest"
)

func TestSetDefaults(t *testing.T) {
	var c Config
	c.SetDefaults()
	want := Config{
		DialTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		BackoffMin: 500 * time.Millisecond, BackoffMax: 30 * time.Second,
		WindowBytes: 16 << 20,
		ChunkSize:   1420, HTTPMaxBodyBytes: 65536,
	}
	if !reflect.DeepEqual(c, want) {
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
		"udp://gra1.logs.ovh.com":     "udp://gra1.logs.ovh.com:2202",
		"UDP://10.0.0.1:12201":        "udp://10.0.0.1:12201",
		"http://graylog:12201":        "http://graylog:12201/gelf",
		"http://graylog:12201/":       "http://graylog:12201/gelf",
		"https://graylog":             "https://graylog:443/gelf",
		"http://graylog/in/gelf?a=b":  "http://graylog:80/in/gelf?a=b",
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
		{Endpoint: "udp://127.0.0.1", Compression: CompressZlib, ChunkSize: 8154},
		{Endpoint: "udp://127.0.0.1", Compression: CompressNone, ChunkSize: MinChunkSize},
		{Endpoint: "http://graylog:12201", HTTPBulk: true, HTTPMaxBodyBytes: 1 << 20, HTTPHeaders: map[string]string{"Authorization": "Bearer abc"}},
		{Endpoint: "https://graylog/custom/path?x=1", CACert: pki.CAFile, ClientCert: pki.ClientCertFile, ClientKey: pki.ClientKeyFile, Compression: CompressNone},
		{Endpoint: "tls://gra1.logs.ovh.com"},
		{Endpoint: "tcp://gra1.logs.ovh.com", AllowCleartext: true},
		{Endpoint: "udp://gra1.logs.ovh.com", AllowCleartext: true},
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
		{Config{Endpoint: "ftp://host:2202"}, []string{"output.endpoint", `unsupported scheme "ftp"`}},
		{Config{Endpoint: "udp://host/gelf"}, []string{"output.endpoint", "path"}},
		{Config{Endpoint: "https://user:pw@host/gelf"}, []string{"output.endpoint", "output.http_headers"}},
		{Config{Endpoint: "tls://host", Compression: CompressGzip}, []string{"output.compression", "never compressed"}},
		{Config{Endpoint: "https://host", Compression: CompressZlib}, []string{"output.compression", "zlib", "udp://"}},
		{Config{Endpoint: "udp://host", ChunkSize: 100}, []string{"output.chunk_size", "100", "512..65507"}},
		{Config{Endpoint: "udp://host", ChunkSize: 70000}, []string{"output.chunk_size", "70000"}},
		{Config{Endpoint: "tcp://host", ChunkSize: 8154}, []string{"output.chunk_size", "not udp://"}},
		{Config{Endpoint: "tcp://host", HTTPBulk: true}, []string{"output.http_", "not http://"}},
		{Config{Endpoint: "udp://host", HTTPHeaders: map[string]string{"Authorization": "x"}}, []string{"output.http_", "not http://"}},
		{Config{Endpoint: "http://host", HTTPMaxBodyBytes: 1000}, []string{"output.http_max_body_bytes", "1000", "4096"}},
		{Config{Endpoint: "http://host", HTTPHeaders: map[string]string{"Bad Name": "x"}}, []string{"output.http_headers", `"Bad Name"`}},
		{Config{Endpoint: "http://host", HTTPHeaders: map[string]string{"X-Token": "a\nb"}}, []string{"output.http_headers.X-Token"}},
		{Config{Endpoint: "http://host", HTTPHeaders: map[string]string{"content-encoding": "br"}}, []string{"output.http_headers", "set by the agent"}},
		{Config{Endpoint: "http://host", CACert: pki.CAFile}, []string{"output.ca_cert", "does not use TLS"}},
		{Config{Endpoint: "udp://host", ClientCert: pki.ClientCertFile, ClientKey: pki.ClientKeyFile}, []string{"output.client_cert", "does not use TLS"}},
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
		{Config{Endpoint: "tcp://gra1.logs.ovh.com"}, []string{"tcp://gra1.logs.ovh.com:2202", "in clear to Logs Data Platform", "tls://gra1.logs.ovh.com:12202", "output.allow_cleartext"}},
		{Config{Endpoint: "udp://GRA2.LOGS.OVH.COM.:2202"}, []string{"in clear to Logs Data Platform", "output.allow_cleartext"}},
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

func TestCleartextAndLDP(t *testing.T) {
	for _, tc := range []struct {
		endpoint       string
		cleartext, ldp bool
	}{
		{"tls://gra1.logs.ovh.com", false, true},
		{"tcp://gra1.logs.ovh.com", true, true},
		{"udp://graylog.example", true, false},
		{"http://graylog.example", true, false},
		{"https://graylog.example", false, false},
		{"tcp://logs.ovh.com.evil.example", true, false},
		{"-", false, false},
		{"nonsense", false, false},
	} {
		c := Config{Endpoint: tc.endpoint}
		if c.Cleartext() != tc.cleartext || c.IsLDP() != tc.ldp {
			t.Errorf("%s: Cleartext %v, IsLDP %v; want %v, %v", tc.endpoint, c.Cleartext(), c.IsLDP(), tc.cleartext, tc.ldp)
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

// TestConfigMaxMessageBytes: the bound of each transport, from the
// configuration alone.
func TestConfigMaxMessageBytes(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want int
	}{
		{Config{Endpoint: "tls://graylog:12201"}, 0},
		{Config{Endpoint: "-"}, 0},
		{Config{Endpoint: "http://graylog:12201"}, DefaultHTTPMaxBody - 1},
		{Config{Endpoint: "https://graylog", HTTPMaxBodyBytes: 8192}, 8191},
		{Config{Endpoint: "udp://graylog"}, 0}, // compressed: depends on the message
		{Config{Endpoint: "udp://graylog", Compression: CompressNone}, 128 * (DefaultChunkSize - 12)},
		{Config{Endpoint: "udp://graylog", Compression: CompressNone, ChunkSize: 8192}, 128 * (8192 - 12)},
		{Config{Endpoint: "bogus"}, 0},
	} {
		if got := tc.cfg.MaxMessageBytes(); got != tc.want {
			t.Errorf("%+v: MaxMessageBytes() = %d, want %d", tc.cfg, got, tc.want)
		}
	}
}
