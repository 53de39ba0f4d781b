package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/gelftest"
)

// criWriter writes a container log the way containerd does
// (internal/cri/io/logger.go): each stdout line as 16 KiB P fragments and
// an F one, one write per physical line, with kube-apiserver's own klog
// lines on stderr in between.
type criWriter struct {
	t   *testing.T
	f   *os.File
	dir string
}

func (w *criWriter) open(n int) {
	w.t.Helper()
	f, err := os.OpenFile(filepath.Join(w.dir, fmt.Sprintf("%d.log", n)), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		w.t.Fatal(err)
	}
	w.f = f
}

func (w *criWriter) phys(stream, tag, text string) {
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	if _, err := fmt.Fprintf(w.f, "%s %s %s %s\n", ts, stream, tag, text); err != nil {
		w.t.Fatal(err)
	}
}

// event writes event seq on stdout, padded in its userAgent to about size
// bytes, split as containerd splits it.
func (w *criWriter) event(seq, size int) {
	line := strings.TrimSuffix(fmt.Sprintf(eventLine, seq), "\n")
	if pad := size - len(line); pad > 0 {
		line = strings.Replace(line, `"userAgent":"`, `"userAgent":"`+strings.Repeat("x", pad), 1)
	}
	const max = 16384
	for len(line) > max {
		w.phys("stdout", "P", line[:max])
		line = line[max:]
	}
	w.phys("stdout", "F", line)
	if seq%7 == 0 {
		w.phys("stderr", "F", fmt.Sprintf("E1206 10:00:00.000000       1 controller.go:113] loading OpenAPI spec for %d failed", seq))
	}
}

// rotate does what kubelet does (pkg/kubelet/logs/container_log_manager.go):
// rename N.log to N.log.<local time YYYYMMDD-hhmmss>, and the runtime reopens
// a new N.log.
func (w *criWriter) rotate(n int, at time.Time) {
	w.t.Helper()
	live := filepath.Join(w.dir, fmt.Sprintf("%d.log", n))
	if err := os.Rename(live, live+"."+at.Format("20060102-150405")); err != nil {
		w.t.Fatal(err)
	}
	w.f.Close()
	w.open(n)
}

// --format cri: an API server logging its audit events to stdout, its
// container log rotated by kubelet, its container restarted and its pod
// replaced (a new UID, a new directory matching the pattern given); every
// event arrives once (long ones joined from their fragments), none of the
// stderr lines, and the checkpoint ends at the end of the new pod's log.
func TestContainerLogCRI(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "pods", "kube-system_kube-apiserver-cp1_0123", "kube-apiserver")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	w := &criWriter{t: t, dir: dir}
	w.open(0)
	srv := gelftest.NewServer(t, gelftest.Options{})
	ckpt := filepath.Join(root, "ckpt.json")
	// The pods' directories by pattern: a new pod (a new UID) is followed too.
	pattern := filepath.Join(root, "pods", "kube-system_kube-apiserver-cp1_*", "kube-apiserver")
	a := startAgent(t, nil, "--format", "cri", "--path", pattern, "--endpoint", srv.Endpoint(), "--checkpoint", ckpt)
	a.waitStarted(t)
	seq := 0
	write := func(n int) {
		for range n {
			size := 1200
			if seq%50 == 0 {
				size = 100 << 10 // a 100 KiB event: 7 fragments
			}
			w.event(seq, size)
			seq++
		}
	}
	write(300)
	w.rotate(0, time.Now().Add(-time.Hour))
	write(300)
	// The container restarts: its next instance logs to 1.log.
	w.f.Close()
	w.open(1)
	write(300)
	// The manifest changes: a new pod, with a new UID and its own directory.
	w.f.Close()
	w.dir = filepath.Join(root, "pods", "kube-system_kube-apiserver-cp1_4567", "kube-apiserver")
	if err := os.MkdirAll(w.dir, 0o750); err != nil {
		t.Fatal(err)
	}
	w.open(0)
	write(300)
	w.f.Close()
	waitDistinct(t, srv, seq, 30*time.Second)
	waitCheckpoint(t, ckpt, fileSize(t, filepath.Join(w.dir, "0.log")))
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	frames := srv.Messages()
	d := tally(t, frames, func(m map[string]any) {
		if fm, _ := m["full_message"].(string); strings.Contains(fm, "controller.go") {
			t.Fatalf("a stderr line was shipped: %.200s", fm)
		}
		if _, bad := m["_parse_error"]; bad {
			t.Fatalf("a message flagged _parse_error: %.300v", m)
		}
	})
	if miss := missing(d, seq); len(miss) > 0 {
		t.Fatalf("%d events missing, first %v", len(miss), miss[:min(5, len(miss))])
	}
	if len(frames) != seq {
		t.Fatalf("%d messages for %d events", len(frames), seq)
	}
}

// audittail check --format cri finds the newest <n>.log of the container's
// log directory and reads its first stdout line as an audit event; a plain
// audit log given as a container log is a clear failure.
func TestCheckContainerLog(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "kube-apiserver")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	w := &criWriter{t: t, dir: dir}
	w.open(0)
	w.event(7, 40<<10) // a stderr line after it, fragments before
	w.f.Close()
	w.open(1) // the newest instance
	w.phys("stderr", "F", "I1206 10:00:00.000000       1 server.go:150] starting")
	w.event(8, 1200)
	w.f.Close()
	args := []string{"--format", "cri", "--path", dir, "--endpoint", "-", "--checkpoint", filepath.Join(root, "ckpt.json")}
	out, code := runCheckCmd(t, nil, args...)
	if code != 0 || !strings.Contains(out, "ok    container log  "+filepath.Join(dir, "1.log")+" readable (cri; first event seq-000008") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	plain := filepath.Join(root, "audit.log")
	writeEvents(t, plain, 0, 1)
	out, code = runCheckCmd(t, nil, "--format", "cri", "--path", plain, "--endpoint", "-", "--checkpoint", filepath.Join(root, "ckpt.json"))
	if code == 0 || !strings.Contains(out, "is not in the cri format") || !strings.Contains(out, "is tail.format right?") {
		t.Fatalf("a plain audit log as a container log: exit %d:\n%s", code, out)
	}
}
