package torture

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestTorture runs every scenario; see README.md. Each fails on any missing
// event and prints one TORTURE summary line.
func TestTorture(t *testing.T) {
	t.Run("live-rotation", testLiveRotation)
	t.Run("kill-restart", testKillRestart)
	t.Run("stopped-across-rotations", func(t *testing.T) {
		t.Run("SIGTERM", func(t *testing.T) { testStoppedAcrossRotations(t, "SIGTERM", syscall.SIGTERM) })
		t.Run("SIGKILL", func(t *testing.T) { testStoppedAcrossRotations(t, "SIGKILL", syscall.SIGKILL) })
	})
	t.Run("server-faults", testServerFaults)
	t.Run("copytruncate", testCopytruncate)
	t.Run("hostile-lines", testHostileLines)
	t.Run("log-appears-during-first-connect", testLogAppearsDuringFirstConnect)
	t.Run("webhook-kill-restart", testWebhookKillRestart)
	t.Run("several-logs-kill-restart", testSeveralLogsKillRestart)
	t.Run("cri-kill-restart", testCRIKillRestart)
}

// live-rotation: the agent follows the log while lumberjack rotates it
// every megabyte and gzips the backups; at the end everything has arrived
// and SIGTERM ends the agent with exit code 0.
func testLiveRotation(t *testing.T) {
	s := newScenario(t, "live-rotation", false)
	s.w = newLumberjackWriter(s.logPath, 1, rate(t))
	s.firstStart()
	s.goWrite(time.Now().Add(duration(t)), nil)
	s.waitWriter()
	s.finish()
}

// kill-restart: every 1 to 3 s (random, seeded) the agent is killed with
// SIGKILL and started again with the same flags and checkpoint; after the
// writer ends, one last kill and a final agent that ships the rest.
// Duplicates are expected (per kill, bounded by the replay window and one
// checkpoint interval).
func testKillRestart(t *testing.T) {
	s := newScenario(t, "kill-restart", false)
	sd := seed(t)
	t.Logf("seed %d (TORTURE_SEED=%d repeats the kill times)", sd, sd)
	rng := rand.New(rand.NewPCG(sd, 0))
	s.w = newLumberjackWriter(s.logPath, 1, rate(t))
	s.firstStart()
	s.goWrite(time.Now().Add(duration(t)), nil)
	s.killWhileWriting(rng, 0)
	s.waitWriter()
	s.finish()
}

// stopped-across-rotations: the agent is stopped (SIGTERM, or SIGKILL: its
// checkpoint is then up to 1 s old) in the middle of a file; while it is
// down the writer goes on for at least 22 MB and 21 rotations, so the file
// it stopped in is now a .gz and 20 more backups wait; then it is started
// again while the writer goes on.
func testStoppedAcrossRotations(t *testing.T, name string, sig syscall.Signal) {
	d := duration(t)
	s := newScenario(t, "stopped-across-rotations/"+name, false)
	s.w = newLumberjackWriter(s.logPath, 1, rate(t))
	a := s.firstStart()
	stop := make(chan struct{})
	s.goWrite(time.Time{}, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()
	s.sleep(max(d/4, time.Second))
	code := s.ag.stop(a, sig)
	if sig == syscall.SIGTERM && code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	downAt, bytes0, rot0 := time.Now(), s.w.bytes.Load(), s.w.rotations.Load()
	t.Logf("agent stopped with %s at %d events written, %d received", name, s.w.seq.Load(), s.tl.distinct)
	for deadline := time.Now().Add(5 * time.Minute); ; {
		if s.w.bytes.Load()-bytes0 >= 22<<20 && s.w.rotations.Load()-rot0 >= 21 && time.Since(downAt) >= d/2 {
			break
		}
		if !s.writing() {
			t.Fatalf("writer stopped: %v", s.w.error())
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writer wrote only %d bytes and %d rotations in 5 minutes while the agent was down",
				s.w.bytes.Load()-bytes0, s.w.rotations.Load()-rot0)
		}
		s.sleep(50 * time.Millisecond)
	}
	// The file the agent stopped in has been rotated 20+ times: lumberjack
	// has gzipped it (bounded wait: its gzip runs in the background).
	c, err := readCheckpoint(s.ckpt)
	if err != nil {
		t.Fatal(err)
	}
	plain := plainWithInode(s.dir, c.Inode)
	for deadline := time.Now().Add(30 * time.Second); plain != "" && time.Now().Before(deadline); {
		s.sleep(50 * time.Millisecond)
		plain = plainWithInode(s.dir, c.Inode)
	}
	gz, _ := filepath.Glob(filepath.Join(s.dir, "*.gz"))
	where := "only as .gz"
	if plain != "" {
		where = "still plain: " + filepath.Base(plain) // a precondition missed, not an agent failure
	}
	t.Logf("down for %v: %d bytes, %d rotations written; checkpoint %s inode %d offset %d (its file now %s); %d .gz backups",
		time.Since(downAt).Round(time.Millisecond), s.w.bytes.Load()-bytes0, s.w.rotations.Load()-rot0,
		filepath.Base(c.Path), c.Inode, c.Offset, where, len(gz))
	s.notes = append(s.notes, fmt.Sprintf("down_rotations=%d resumed_in_gz=%v", s.w.rotations.Load()-rot0, plain == ""))

	b := s.ag.start()
	s.ag.waitStarted(b)
	s.sleep(max(d/4, time.Second))
	for _, l := range b.resumeLines() {
		t.Logf("agent #%d: %s", b.n, l)
	}
	close(stop)
	s.waitWriter()
	s.finish()
}

// server-faults: over TLS, while the log rotates, the server misbehaves in
// turn: it stops reading for 2 s (backpressure: the replay window fills,
// the tailer stops, the file is the buffer), resets every connection (RST
// after reading what arrived), closes them (FIN), aborts them (RST now,
// discarding what its kernel acknowledged but it did not read yet), and
// goes down for 2 s and comes back on the same port. The cycle repeats while
// the writer runs, at least once.
//
// The abort is a crashing server: the agent's guarantee holds if the server
// reads what its kernel acknowledged within the 25 ms after which the agent
// confirms a message. Here the server reads continuously (the abort comes at
// least a second after reading resumed), so an acknowledged byte waits in its
// kernel for microseconds, not 25 ms.
func testServerFaults(t *testing.T) {
	s := newScenario(t, "server-faults", true)
	s.w = newLumberjackWriter(s.logPath, 1, rate(t))
	s.firstStart()
	s.goWrite(time.Now().Add(duration(t)), nil)
	faults := []struct {
		name string
		do   func()
	}{
		{"stop reading for 2 s", func() { s.srv.StopReading(); s.sleep(2 * time.Second); s.srv.ResumeReading() }},
		{"reset all (RST after draining)", s.srv.ResetAll},
		{"close all (FIN)", s.srv.CloseAll},
		{"abort all (RST now)", s.srv.AbortAll},
		{"server down for 2 s", func() { s.srv.Stop(); s.sleep(2 * time.Second); s.srv.Restart(t) }},
	}
	n := 0
	for cycle := 0; cycle == 0 || s.writing(); cycle++ {
		for _, f := range faults {
			t.Logf("%5.1fs fault %q: %d events written, %d received, %d connections so far",
				time.Since(s.begin).Seconds(), f.name, s.w.seq.Load(), s.tl.distinct, s.srv.Accepted())
			f.do()
			n++
			// Let the agent recover and ship before the next fault.
			before := s.tl.distinct
			s.sleep(time.Second)
			for deadline := time.Now().Add(2 * time.Minute); s.tl.distinct == before && !s.complete(); {
				if time.Now().After(deadline) {
					t.Fatalf("no event arrived within 2 minutes after fault %q", f.name)
				}
				s.sleep(50 * time.Millisecond)
			}
		}
	}
	s.extra = func() string {
		return fmt.Sprintf("faults=%d connections=%d torn_frames=%d", n, s.srv.Accepted(), s.srv.Partial())
	}
	s.waitWriter()
	s.finish()
}

// copytruncate: no lumberjack. The writer appends with O_APPEND; about
// every second the log is copied to audit.log.<k> and truncated to 0 in
// place, as logrotate's copytruncate does (kube-apiserver 1.36 with
// --audit-log-maxsize 0 never reopens its file, so an external logrotate must
// use copytruncate). The agent must see the truncation and read the new
// content from offset 0.
//
// Before each truncation the test waits until the server has received
// everything written so far. copytruncate itself loses whatever is written
// between the agent's last read and the truncation (the copy may include it,
// but the agent follows audit.log, not the copy), whatever the agent does; the
// wait removes that inherent loss so that any missing event is the agent's.
// Keeping the file shorter than what was read until the agent has looked at
// it is also what lets it detect the truncation by size.
func testCopytruncate(t *testing.T) {
	d := duration(t)
	s := newScenario(t, "copytruncate", false)
	w, err := newAppendWriter(s.logPath, rate(t))
	if err != nil {
		t.Fatal(err)
	}
	s.w = w
	s.firstStart()
	end := time.Now().Add(d)
	truncs := 0
	for {
		if err := w.runFor(time.Second); err != nil {
			t.Fatalf("writer: %v", err)
		}
		s.poll()
		if time.Now().After(end) {
			break
		}
		if err := s.waitComplete(s.timeout); err != nil {
			s.report()
			t.Fatalf("before truncation #%d: %v", truncs+1, err)
		}
		if err := copyFile(s.logPath, fmt.Sprintf("%s.%d", s.logPath, truncs+1)); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(s.logPath, 0); err != nil {
			t.Fatal(err)
		}
		truncs++
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	s.notes = append(s.notes, fmt.Sprintf("truncations=%d", truncs))
	s.finish()
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// hostile-lines: live traffic (1000 events/s at the default rate) with a
// hostile line after every 50 events, cycling through a 1 MiB line, invalid
// UTF-8, NUL bytes, a JSON array, {"kind":0}, a 10 MiB line; the 8th hostile
// line is 64 MiB, beyond max_line_bytes (16 MiB), the 4th and 5th are events
// of 16 MiB whose user name is invalid UTF-8, the 10th and 11th events with
// 100,000 annotations and 100,000 user.extra keys (see hostileOnce). Every
// line is complete. Lumberjack runs with MaxSize 100 (kube-apiserver's usual
// --audit-log-maxsize) because it refuses a write larger than MaxSize: with
// 1 MB files even the 1 MiB line could not be written. Every good event must
// arrive; each hostile line that is an event must arrive once as an event,
// each other one must give exactly one message flagged _parse_error or
// _line_truncated_bool (the 64 MiB one the latter). (That the big maps'
// storage is let go, so that later events cost what they did before, is
// asserted in pkg/audit and pkg/gelf, TestResetLetsGoOfHugeMaps and
// TestEncoderScratchBounded.) The agent's peak RSS must stay under 80 MiB;
// the agent before the bounds on one line's memory reached 191.5 MiB here.
func testHostileLines(t *testing.T) {
	s := newScenario(t, "hostile-lines", false)
	h := newHostileLines(7)
	s.w = newLumberjackWriter(s.logPath, 100, max(rate(t)/5, 100))
	s.w.hostile, s.w.hostileEvery = h.line, 50
	s.extra = func() string {
		return fmt.Sprintf("hostile_written=%d hostile_flagged=%d", s.w.hostileN.Load(), s.tl.flagged)
	}
	s.firstStart()
	s.goWrite(time.Now().Add(duration(t)), nil)
	s.waitWriter()
	s.finish()

	n := int(s.w.hostileN.Load())
	events := 0
	for k := range n {
		if h.event(k) {
			events++
		}
	}
	s.t.Logf("%d hostile lines written (%d of them events), %d flagged messages received", n, events, s.tl.flagged)
	if s.tl.flagged != n-events {
		t.Errorf("%d flagged messages for %d hostile lines that are not events; want exactly one each (no restart here)", s.tl.flagged, n-events)
	}
	var lost, twice []string
	for k := range n {
		c := s.tl.hostile[k]
		if h.event(k) {
			c = s.tl.hostileEv[k]
			if s.tl.hostile[k] > 0 {
				t.Errorf("hostile line %d (%s) is a valid event but arrived flagged", k, h.kind(k))
			}
		}
		switch {
		case c == 0:
			lost = append(lost, fmt.Sprintf("%d (%s)", k, h.kind(k)))
		case c > 1:
			twice = append(twice, fmt.Sprintf("%d (%s) x%d", k, h.kind(k), c))
		}
	}
	if len(lost) > 0 {
		t.Errorf("hostile lines without a flagged message: %v", lost)
	}
	if len(twice) > 0 {
		t.Errorf("hostile lines shipped more than once: %v", twice)
	}
	if n > h.big && s.tl.hostile[h.big] > 0 && !s.tl.hostileCut[h.big] {
		t.Errorf("the 64 MiB line (HOSTILE_%06d) was not flagged _line_truncated_bool", h.big)
	}
	if s.tl.other > 0 {
		t.Errorf("%d messages are neither events nor hostile lines (a hostile line split into several?)", s.tl.other)
	}
	if s.ag.peakMiB() >= 80 {
		t.Errorf("agent peak RSS %.1f MiB, want < 80 MiB", s.ag.peakMiB())
	}
}

// log-appears-during-first-connect: the first agent starts before the audit
// log exists (it logs "waiting for the audit log to appear") and its first
// connection attempt is slow: the server accepts TCP but does not answer the
// TLS handshake (an overloaded or half-broken input). Meanwhile the log is
// created and rotated three times. Then the server fails the handshake, comes
// back properly on the same port, and the writer goes on for the duration.
// Every event written after the agent's start-up line must arrive, those of
// the generations rotated before its first read included.
//
// The agent reads nothing until its first connection attempt ends (up to
// output.dial_timeout, 10 s), so this is deterministic; with kube-apiserver's
// 100 MB files it needs 100 MB written during that attempt, or any other delay
// between the start-up line and the first read.
func testLogAppearsDuringFirstConnect(t *testing.T) {
	s := newScenario(t, "log-appears-during-first-connect", true)
	s.w = newLumberjackWriter(s.logPath, 1, rate(t))
	// A black hole on the server's port: accepts, never answers.
	s.srv.Stop()
	bh, err := net.Listen("tcp", s.srv.Addr())
	if err != nil {
		t.Fatalf("black hole on %s: %v", s.srv.Addr(), err)
	}
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := bh.Accept()
			if err != nil {
				close(held)
				return
			}
			held <- c
		}
	}()
	a := s.firstStart()
	var first net.Conn
	select { // the agent's first attempt is now held in the handshake
	case first = <-held:
	case <-time.After(60 * time.Second):
		t.Fatal("the agent did not connect within 60 s")
	}
	for s.w.rotations.Load() < 3 {
		for range burst {
			if err := s.w.event(); err != nil {
				t.Fatalf("writer: %v", err)
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("%d events and %d rotations written during the agent's first connection attempt", s.w.seq.Load(), s.w.rotations.Load())
	bh.Close()
	first.Close()
	for c := range held {
		c.Close()
	}
	s.srv.Restart(t)
	if !a.running() {
		t.Fatalf("agent exited: %v", a.cmd.ProcessState)
	}
	s.goWrite(time.Now().Add(duration(t)), nil)
	s.waitWriter()
	s.finish()
}

// several-logs-kill-restart: one agent follows three logs in one
// directory (OpenShift's layout puts them in three; one directory also
// tests that their backups are told apart), written in turn by lumberjack
// with 1 MB files and gzip; every 1 to 3 s the agent is killed with
// SIGKILL and started again, and once the log server is down for 2 s. Every event of every log arrives, and the
// version 2 checkpoint ends at the end of each.
func testSeveralLogsKillRestart(t *testing.T) {
	s := newScenario(t, "several-logs-kill-restart", false)
	sd := seed(t)
	t.Logf("seed %d (TORTURE_SEED=%d repeats the kill times)", sd, sd)
	rng := rand.New(rand.NewPCG(sd, 2))
	for _, name := range []string{"kube-apiserver.log", "openshift-apiserver.log", "oauth-apiserver.log"} {
		s.logPaths = append(s.logPaths, filepath.Join(s.dir, name))
	}
	args := []string{"--endpoint", s.srv.Endpoint(), "--checkpoint", s.ckpt, "--log-level", "info"}
	for _, p := range s.logPaths {
		args = append(args, "--path", p)
	}
	s.ag = newAgents(t, args...)
	s.w = newSeveralWriter(s.logPaths, 1, rate(t))
	s.firstStart()
	s.goWrite(time.Now().Add(duration(t)), nil)
	s.killWhileWriting(rng, 2*time.Second) // the files are the buffer
	s.waitWriter()
	s.finish()
}
