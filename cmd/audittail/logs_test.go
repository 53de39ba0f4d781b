package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/internal/gelftest"
)

// countByLog counts, for each _log, the distinct auditIDs received and
// the messages.
func countByLog(t *testing.T, frames [][]byte) (distinct map[string]map[string]bool, msgs int) {
	t.Helper()
	distinct = map[string]map[string]bool{}
	for _, f := range frames {
		var m map[string]any
		if err := json.Unmarshal(f, &m); err != nil {
			t.Fatalf("frame is not JSON: %v", err)
		}
		l, _ := m["_log"].(string)
		if distinct[l] == nil {
			distinct[l] = map[string]bool{}
		}
		distinct[l][m["_auditID"].(string)] = true
		msgs++
	}
	return distinct, msgs
}

// Several logs in one agent: a first run follows one log (checkpoint
// version 1); a second adds two more (OpenShift's layout: one per API
// server) and is killed with SIGKILL while lumberjack rotates them; a
// third ships the rest. Every event of every log arrives, each message
// says its log, the first log is not read again from its start, and the
// checkpoint, upgraded to version 2, ends at the end of each log.
func TestSeveralLogs(t *testing.T) {
	dir := t.TempDir()
	srv := gelftest.NewServer(t, gelftest.Options{})
	ckpt := filepath.Join(dir, "state", "checkpoint.json")
	var paths []string
	var ws []*auditWriter
	for _, name := range []string{"kube-apiserver", "openshift-apiserver", "oauth-apiserver"} {
		p := filepath.Join(dir, name, "audit.log")
		paths = append(paths, p)
		ws = append(ws, newAuditWriter(t, p))
	}
	// Run 1: the first log alone.
	const first = 500
	ws[0].write(t, first, 0) // less than a file: a first start reads the live file only
	a := startAgent(t, nil, "--path", paths[0], "--endpoint", srv.Endpoint(), "--checkpoint", ckpt)
	a.waitStarted(t)
	waitDistinct(t, srv, first, 30*time.Second)
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if all, err := checkpoint.ReadAll(ckpt); err != nil || len(all) != 1 || all[""].Position.Offset == 0 {
		t.Fatalf("after one log: %+v, %v (want a version 1 checkpoint)", all, err)
	}

	// Run 2: three logs, killed in the middle of writing.
	args := []string{"--endpoint", srv.Endpoint(), "--checkpoint", ckpt}
	for _, p := range paths {
		args = append(args, "--path", p)
	}
	a = startAgent(t, nil, args...)
	a.waitStarted(t)
	const perLog = 4000 // 1 MB files: about 4 rotations each
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2 {
			for _, w := range ws {
				w.write(t, perLog/2, 0)
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	a.stop(t, syscall.SIGKILL)
	<-done
	for _, w := range ws {
		w.lj.Close()
	}

	// Run 3: ships the rest.
	a = startAgent(t, nil, args...)
	a.waitStarted(t)
	want := map[string]int{paths[0]: first + perLog, paths[1]: perLog, paths[2]: perLog}
	// The condition runs with the server's lock held: it looks only at the
	// frames it has not seen, with a byte search, so the server keeps reading.
	seen := map[string]map[string]bool{}
	nseen := 0
	srv.WaitFor(t, 60*time.Second, "every event of every log", func(frames [][]byte) bool {
		for _, f := range frames[nseen:] {
			l, id := field(f, "_log"), field(f, "_auditID")
			if seen[l] == nil {
				seen[l] = map[string]bool{}
			}
			seen[l][id] = true
		}
		nseen = len(frames)
		for p, n := range want {
			if len(seen[p]) < n-map[bool]int{true: first}[p == paths[0]] {
				return false
			}
		}
		return len(seen[""]) >= first
	})
	for _, c := range paths {
		waitCheckpointOf(t, ckpt, c, fileSize(t, c))
	}
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	d, msgs := countByLog(t, srv.Messages())
	// Run 1's messages carry no _log (one log); the others name theirs.
	for i := range first {
		id := fmt.Sprintf("seq-%06d", i)
		if !d[""][id] {
			t.Fatalf("run 1: %s missing", id)
		}
	}
	for p, n := range want {
		from := 0
		if p == paths[0] {
			from = first
		}
		for i := from; i < n; i++ {
			if id := fmt.Sprintf("seq-%06d", i); !d[p][id] {
				t.Fatalf("%s: %s missing", p, id)
			}
		}
		if p == paths[0] && d[p]["seq-000000"] {
			t.Errorf("%s was read again from its start after the upgrade to several logs", p)
		}
	}
	total := first + 3*perLog
	t.Logf("%d events in 3 logs, %d messages (%d duplicates after the SIGKILL)", total, msgs, msgs-total)
	if st, err := os.ReadFile(ckpt); err != nil || !json.Valid(st) {
		t.Fatalf("checkpoint: %v", err)
	} else if v := (struct{ Version int }{}); json.Unmarshal(st, &v) != nil || v.Version != 2 {
		t.Fatalf("checkpoint is %s, want version 2", st)
	}
}

// waitCheckpointOf waits until the checkpoint gives log the offset.
func waitCheckpointOf(t *testing.T, path, log string, offset int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		all, err := checkpoint.ReadAll(path)
		if err == nil && all[log].Position.Offset == offset {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %s for %s: %+v, %v; want offset %d", path, log, all[log], err, offset)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// field is the string value of the GELF field name in frame f, "" if none
// (a byte search: the agent writes fields as "name":"value").
func field(f []byte, name string) string {
	i := bytes.Index(f, []byte(`"`+name+`":"`))
	if i < 0 {
		return ""
	}
	rest := f[i+len(name)+4:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}
