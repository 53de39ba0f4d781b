package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/gelftest"
)

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
