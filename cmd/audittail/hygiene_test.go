package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/pkg/config"
	"github.com/audittail/audittail/shipper/gelftest"
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
	settingsWith := func(f func(*config.Config)) settings {
		var c config.Config
		c.Output.Endpoint = "tls://graylog.example:12201"
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
			s.tokenFrom = tokenFlag
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
			s.tokenFrom, s.configFile = tokenConfig, write("config.yaml", 0o644)
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := securityWarnings(tc.set)
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

// TestStartupSecurityWarnings: the built agent warns at start-up about a
// token on its command line and a token sent in clear, and refuses a
// cleartext endpoint on Logs Data Platform (exit 2) unless allowed.
func TestStartupSecurityWarnings(t *testing.T) {
	dir := t.TempDir()
	srv := gelftest.NewServer(t, gelftest.Options{})
	logPath := filepath.Join(dir, "audit.log")
	writeEvents(t, logPath, 0, 2)
	a := startAgent(t, nil, "--path", logPath, "--endpoint", srv.Endpoint(), "--checkpoint", filepath.Join(dir, "c.json"),
		"--stream", "tok-on-the-command-line")
	srv.WaitForCount(t, 2, 10*time.Second)
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	logs := a.stderr.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`"level":"warn","check":"stream token",[^\n]*"message":"the stream token is given with --stream`),
		regexp.MustCompile(`"level":"warn","check":"endpoint",[^\n]*"message":"tcp:// sends the stream token and the audit trail in clear`),
	} {
		if !want.MatchString(logs) {
			t.Errorf("no %s in:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "tok-on-the-command-line") {
		t.Error("the token is in the log")
	}

	b := startAgent(t, nil, "--path", logPath, "--endpoint", "tcp://gra1.logs.ovh.com", "--checkpoint", filepath.Join(dir, "c2.json"))
	if code := b.wait(t); code != 2 || !strings.Contains(b.stderr.String(), "in clear to Logs Data Platform") {
		t.Fatalf("cleartext LDP endpoint: exit %d\n%s", code, b.stderr.String())
	}
}

// TestStdoutLeavesTokenOut: with --endpoint - the printed messages carry no
// _X-OVH-TOKEN (they end up in journald and kubectl logs).
func TestStdoutLeavesTokenOut(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "audit.log")
	writeEvents(t, logPath, 0, 3)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("tok-not-printed\n"), 0o600)
	a := startAgent(t, nil, "--path", logPath, "--endpoint", "-", "--checkpoint", filepath.Join(dir, "c.json"), "--stream-file", tokenFile)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(a.stdout.String(), "\n") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("stdout:\n%s", a.stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.cmd.Process.Signal(syscall.SIGHUP) // a reload must not bring the token back
	writeEvents(t, logPath, 3, 1)
	for strings.Count(a.stdout.String(), "\n") < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("stdout after SIGHUP:\n%s", a.stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if out := a.stdout.String(); strings.Contains(out, "X-OVH-TOKEN") || strings.Contains(out, "tok-not-printed") {
		t.Fatalf("the token is printed:\n%s", out)
	}
	if !strings.Contains(a.stderr.String(), "printed without _X-OVH-TOKEN") {
		t.Errorf("no notice in the log:\n%s", a.stderr.String())
	}
}

// TestPathNotARegularFile: a named pipe at --path is refused at start-up
// with a clear error (exit 1), instead of an open that blocks for good and
// ignores SIGTERM.
func TestPathNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "audit.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, nil, "--path", fifo, "--endpoint", "-", "--checkpoint", filepath.Join(dir, "c.json"))
	select {
	case <-a.done:
		if code := a.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(a.stderr.String(), "is a named pipe (FIFO), not a regular file") {
			t.Fatalf("exit %d:\n%s", code, a.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not exit: blocked on the named pipe?")
	}
}
