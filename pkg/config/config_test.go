package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/tailer"
)

func TestExampleConfigLoads(t *testing.T) {
	var c Config
	if err := Load("../../examples/config.yaml", &c); err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("examples/config.yaml does not validate: %v", err)
	}
	if c.Tail.Path != tailer.DefaultPath || c.Output.Endpoint == "" {
		t.Fatalf("unexpected values: path %q endpoint %q", c.Tail.Path, c.Output.Endpoint)
	}
}

func TestDefaultsValidateWithEndpoint(t *testing.T) {
	var c Config
	c.Output.Endpoint = "-"
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Checkpoint.FlushInterval != time.Second || c.Log.Format != LogJSON || c.Tail.StartAt != tailer.StartBeginning {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestStrictDecoding(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown top-level key", "tail:\n  path: /x\nbogus: 1\n", `line 3: unknown key "bogus"`},
		{"unknown key in section", "output:\n  endpoint: tcp://a:1\n  endpoitn: x\n", `line 3: unknown key "output.endpoitn"`},
		{"unknown key in tail", "tail:\n  pth: /x\n", `line 2: unknown key "tail.pth"`},
		{"bad enum", "tail:\n  start_at: middle\n", `start_at "middle"`},
		{"bad log format", "log:\n  format: xml\n", `log format "xml"`},
		{"bad duration", "checkpoint:\n  flush_interval: soon\n", "soon"},
		{"not a mapping", "- a\n- b\n", "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			os.WriteFile(path, []byte(tc.yaml), 0o600)
			var c Config
			err := Load(path, &c)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not contain %q and the file name", err, tc.want)
			}
		})
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"log level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"poll interval", func(c *Config) { c.Tail.PollInterval = time.Hour }, "tail.poll_interval"},
		{"stdout path", func(c *Config) { c.Tail.Path = "-" }, "tail.path"},
		{"flush interval", func(c *Config) { c.Checkpoint.FlushInterval = time.Nanosecond }, "checkpoint.flush_interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			c.Output.Endpoint = "-"
			c.SetDefaults()
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want it to name %s", err, tc.want)
			}
		})
	}
}

// With webhook.listen and no tail.path, the agent only receives the
// webhook: the path is not defaulted, the spool is; without either, there
// is nothing to read.
func TestReceiverOnly(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	var c Config
	err := Decode(strings.NewReader(`
webhook:
  listen: ":8443"
  cert_file: /etc/audittail/tls.crt
  key_file: /etc/audittail/tls.key
  token_file: `+tok+`
output:
  endpoint: "-"
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.TailsFile() || c.Tail.Path != "" {
		t.Fatalf("tail.path %q: want none with the webhook receiver alone", c.Tail.Path)
	}
	if c.Spool.Dir != "/var/lib/audittail/spool" || c.Tail.PollInterval != tailer.DefaultPollInterval {
		t.Fatalf("defaults: spool %+v, tail %+v", c.Spool, c.Tail)
	}

	var none Config
	none.Output.Endpoint = "-"
	none.SetDefaults()
	none.Tail.Path = ""
	if err := none.Validate(); err == nil || !strings.Contains(err.Error(), "tail.path") {
		t.Fatalf("neither a path nor the webhook: %v", err)
	}
	var bad Config
	if err := Decode(strings.NewReader("webhook:\n  listn: \":8443\"\n"), &bad); err == nil || !strings.Contains(err.Error(), `"webhook.listn"`) {
		t.Fatalf("unknown key in webhook: %v", err)
	}
}

// A preset gives the paths when none is set; a path set wins; an unknown
// preset is an error naming the known ones.
func TestPresetPaths(t *testing.T) {
	var c Config
	c.Preset, c.Output.Endpoint = "openshift", "-"
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Tail.Logs(); len(got) != 4 || got[0] != "/var/log/kube-apiserver/audit.log" || c.Tail.Path != "" {
		t.Fatalf("openshift: %v (path %q)", got, c.Tail.Path)
	}
	var k Config
	k.Preset, k.Output.Endpoint = "k3s", "-"
	k.SetDefaults()
	if k.Tail.Path != "/var/lib/rancher/k3s/server/logs/audit.log" || len(k.Tail.Paths) != 0 {
		t.Fatalf("k3s: %+v", k.Tail)
	}
	var own Config
	own.Preset, own.Tail.Path, own.Output.Endpoint = "k3s", "/srv/audit.log", "-"
	own.SetDefaults()
	if own.Tail.Path != "/srv/audit.log" {
		t.Fatalf("a path set is overridden by the preset: %q", own.Tail.Path)
	}
	var bad Config
	bad.Preset, bad.Output.Endpoint = "k4s", "-"
	bad.SetDefaults()
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "openshift") {
		t.Fatalf("unknown preset: %v", err)
	}
}
