package tailer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"golang.org/x/sys/unix"
)

// TestInotifyExhaustedFallsBackToPolling uses up this user's inotify
// instances (fs.inotify.max_user_instances) the way other agents on a busy
// node do, then checks that the tailer still follows the file and its
// rotations, on its poll timer alone.
func TestInotifyExhaustedFallsBackToPolling(t *testing.T) {
	var fds []int
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	for {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
		if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
			break
		}
		if err != nil {
			t.Fatalf("inotify_init1: %v", err)
		}
		fds = append(fds, fd)
		if len(fds) > 1<<16 {
			t.Fatal("could not exhaust inotify instances")
		}
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	appendFile(t, cfg.Path, "one\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	if !tl.Stats().Polling {
		t.Fatal("tailer reports inotify although no instance was left")
	}
	if l := next(t, tl); string(l.Text) != "one" {
		t.Fatalf("got %q", l.Text)
	}
	appendFile(t, cfg.Path, "two\n")
	os.Rename(cfg.Path, filepath.Join(dir, "audit-2026-11-21T10-00-01.000.log"))
	appendFile(t, cfg.Path, "three\n")
	for _, want := range []string{"two", "three"} {
		if l := next(t, tl); string(l.Text) != want {
			t.Fatalf("got %q, want %q", l.Text, want)
		}
	}
}

// TestInotifyOverflowRescans shrinks the kernel's inotify queue
// (fs.inotify.max_queued_events, which applies to instances created
// afterwards), floods the directory with events, and checks that the
// overflow is counted and no line is missed.
func TestInotifyOverflowRescans(t *testing.T) {
	const knob = "/proc/sys/fs/inotify/max_queued_events"
	old, err := os.ReadFile(knob)
	if err != nil {
		t.Fatalf("read %s: %v", knob, err)
	}
	if err := os.WriteFile(knob, []byte("16"), 0o644); err != nil {
		t.Skipf("cannot lower %s (needs root): %v", knob, err)
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	appendFile(t, cfg.Path, "first\n")
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	// Restore the system setting as soon as the tailer's instance exists.
	if err := os.WriteFile(knob, []byte(strings.TrimSpace(string(old))), 0o644); err != nil {
		t.Fatalf("restore %s: %v", knob, err)
	}
	if tl.Stats().Polling {
		t.Fatal("inotify unavailable; this test needs it")
	}
	next(t, tl)
	// A storm of events: many small files created and removed, and lines.
	for i := range 2000 {
		p := filepath.Join(dir, "noise-"+strconv.Itoa(i))
		os.WriteFile(p, nil, 0o600)
		os.Remove(p)
	}
	var want []string
	for i := range 50 {
		want = append(want, fmt.Sprintf("line-%d", i))
		appendFile(t, cfg.Path, want[i]+"\n")
	}
	for _, w := range want {
		if l := next(t, tl); string(l.Text) != w {
			t.Fatalf("got %q, want %q", l.Text, w)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for tl.Stats().InotifyOverflows == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no inotify overflow was seen; the storm did not fill a 16-event queue")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
