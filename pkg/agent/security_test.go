package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audittail/audittail/pkg/config"
)

func TestSecurityWarnings(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mkdir := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	private := mkdir("private", 0o700)
	// settings is a configuration and where its token came from.
	type settings struct {
		cfg  config.Config
		opts Options
	}
	settingsWith := func(f func(*config.Config)) settings {
		var c config.Config
		c.Output.Endpoint = "tls://graylog.example:12201"
		c.Tail.Path = "/var/log/kubernetes/audit/audit.log"
		c.Checkpoint.Path = filepath.Join(private, "c.json")
		f(&c)
		return settings{cfg: c}
	}
	for _, tc := range []struct {
		name string
		set  settings
		want []string // one substring per expected finding, in order
	}{
		{"all private", settingsWith(func(c *config.Config) {
			c.GELF.Stream, c.GELF.StreamFile = "tok-123456", write("token-ok", 0o600)
			c.Output.ClientKey = write("key-ok", 0o400)
		}), nil},
		{"token on the command line", func() settings {
			s := settingsWith(func(c *config.Config) { c.GELF.Stream = "tok-123456" })
			s.opts.TokenFrom = TokenFlag
			return s
		}(), []string{"--stream: every user of this node can read it in the process list"}},
		{"token in clear", settingsWith(func(c *config.Config) {
			c.GELF.Stream, c.Output.Endpoint = "tok-123456", "tcp://graylog.example:12201"
		}), []string{"tcp:// sends the stream token and the audit trail in clear"}},
		{"audit trail in clear", settingsWith(func(c *config.Config) { c.Output.Endpoint = "http://graylog.example" }),
			[]string{"http:// sends the audit trail in clear"}},
		{"stdout is not a network", settingsWith(func(c *config.Config) { c.Output.Endpoint = "-" }), nil},
		{"loose token file", settingsWith(func(c *config.Config) { c.GELF.StreamFile = write("token-loose", 0o644) }),
			[]string{"stream token file " + filepath.Join(dir, "token-loose") + " is readable by group or others (mode 0644): chmod 600"}},
		{"group-readable client key", settingsWith(func(c *config.Config) { c.Output.ClientKey = write("key-loose", 0o640) }),
			[]string{"client key " + filepath.Join(dir, "key-loose") + " is readable by group or others (mode 0640)"}},
		{"world-writable token file", settingsWith(func(c *config.Config) { c.GELF.StreamFile = write("token-ww", 0o606) }),
			[]string{"is writable by group or others (mode 0606): they can replace it"}},
		{"config file with the token", func() settings {
			s := settingsWith(func(c *config.Config) { c.GELF.Stream = "tok-123456" })
			s.opts.TokenFrom, s.opts.ConfigFile = TokenConfig, write("config.yaml", 0o644)
			return s
		}(), []string{"config file (it holds gelf.stream) " + filepath.Join(dir, "config.yaml") + " is readable"}},
		{"readable checkpoint directory", settingsWith(func(c *config.Config) {
			c.Checkpoint.Path = filepath.Join(mkdir("state-r", 0o755), "c.json")
		}), []string{"checkpoint directory " + filepath.Join(dir, "state-r") + " is readable by group or others (mode 0755)"}},
		{"writable checkpoint directory", settingsWith(func(c *config.Config) {
			c.Checkpoint.Path = filepath.Join(mkdir("state-w", 0o777), "c.json")
		}), []string{"is writable by group or others (mode 0777): they can replace the checkpoint and make the agent skip events"}},
		{"missing checkpoint directory: created 0700 later", settingsWith(func(c *config.Config) {
			c.Checkpoint.Path = filepath.Join(dir, "none", "c.json")
		}), nil},
		{"webhook only: the unused checkpoint's directory is not looked at", settingsWith(func(c *config.Config) {
			c.Tail.Path, c.Webhook.Listen, c.Spool.Dir = "", ":8443", filepath.Join(dir, "none")
			c.Checkpoint.Path = filepath.Join(mkdir("state-unused", 0o755), "c.json")
		}), nil},
		{"readable spool directory", settingsWith(func(c *config.Config) {
			c.Webhook.Listen, c.Spool.Dir = ":8443", mkdir("spool-r", 0o750)
		}), []string{"spool directory " + filepath.Join(dir, "spool-r") + " is readable by group or others (mode 0750): they can read the audit events waiting in it"}},
		{"loose webhook key and token", settingsWith(func(c *config.Config) {
			c.Webhook.Listen, c.Spool.Dir = ":8443", private
			c.Webhook.KeyFile, c.Webhook.TokenFile = write("wh-key", 0o644), write("wh-token", 0o640)
		}), []string{"webhook key " + filepath.Join(dir, "wh-key") + " is readable", "webhook token file " + filepath.Join(dir, "wh-token") + " is readable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := securityWarnings(tc.set.cfg, tc.set.opts)
			if len(got) != len(tc.want) {
				t.Fatalf("findings %+v, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i].msg, w) {
					t.Errorf("finding %d %q, want it to contain %q", i, got[i].msg, w)
				}
			}
		})
	}
}

func TestSecretsOf(t *testing.T) {
	var c config.Config
	c.GELF.Stream = "0f3b2c1a-token"
	c.Output.HTTPHeaders = map[string]string{"Authorization": "Bearer abcdef123", "X-Short": "1"}
	s := secretsOf(c)
	got := s.Redact("t=0f3b2c1a-token h=Bearer abcdef123 raw=abcdef123 short=1")
	if got != "t=[redacted] h=[redacted] raw=[redacted] short=1" {
		t.Fatalf("got %q", got)
	}
}
