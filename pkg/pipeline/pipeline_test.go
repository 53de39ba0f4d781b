package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/pkg/audit"
	"github.com/audittail/audittail/pkg/gelf"
	"github.com/audittail/audittail/tailer"
	"github.com/rs/zerolog"
)

// recorder is a batch sender that keeps every message and confirms only
// when told, so the test controls what the server has "received".
type recorder struct {
	mu      sync.Mutex
	msgs    [][]byte
	batch   [][]byte
	seq     uint64
	batches int
	got     chan struct{}

	limit, ratio int // see refuseOver
	refused      int
}

func (r *recorder) Add(msg []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.limit > 0 && len(msg) > r.limit {
		r.refused++
		return fmt.Errorf("send: %w", &tooLargeErr{len(msg) / r.ratio, r.limit / r.ratio})
	}
	r.batch = append(r.batch, msg)
	return nil
}

func (r *recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.batch)
}

func (r *recorder) SendNow(ctx context.Context) (uint64, int, error) { return r.Send(ctx) }

func (r *recorder) Send(context.Context) (uint64, int, error) {
	r.mu.Lock()
	first, n := r.seq+1, len(r.batch)
	for _, m := range r.batch {
		r.msgs = append(r.msgs, bytes.Clone(m))
	}
	r.seq += uint64(n)
	r.batch = r.batch[:0]
	r.batches++
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
	return first, n, nil
}

// refuseOver makes Add refuse messages over limit bytes the way a UDP
// shipper refuses a message that does not fit 128 chunks once compressed:
// with an error carrying TooLarge (in "compressed" units: size/ratio).
func (r *recorder) refuseOver(limit, ratio int) {
	r.mu.Lock()
	r.limit, r.ratio = limit, ratio
	r.mu.Unlock()
}

type tooLargeErr struct{ size, limit int }

func (e *tooLargeErr) Error() string               { return fmt.Sprintf("%d > %d", e.size, e.limit) }
func (e *tooLargeErr) TooLarge() (size, limit int) { return e.size, e.limit }

func (r *recorder) waitFor(t *testing.T, n int) [][]byte {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		if len(r.msgs) >= n {
			out := append([][]byte(nil), r.msgs...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-r.got:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("only %d of %d messages sent", len(r.msgs), n)
		}
	}
}

// marks records checkpoint marks.
type marks struct {
	mu  sync.Mutex
	pos []checkpoint.Position
}

func (m *marks) Mark(p checkpoint.Position) {
	m.mu.Lock()
	m.pos = append(m.pos, p)
	m.mu.Unlock()
}

func (m *marks) last() (checkpoint.Position, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pos) == 0 {
		return checkpoint.Position{}, 0
	}
	return m.pos[len(m.pos)-1], len(m.pos)
}

func setup(t *testing.T, content string) (*Pipeline, *Tracker, *recorder, *marks, string, context.CancelFunc, chan error) {
	t.Helper()
	return setupLog(t, content, zerolog.NewTestWriter(t))
}

// setupLog is setup with the pipeline's log written to w.
func setupLog(t *testing.T, content string, w io.Writer) (*Pipeline, *Tracker, *recorder, *marks, string, context.CancelFunc, chan error) {
	t.Helper()
	return setupProc(t, content, w, nil)
}

// setupProc is setupLog with a processing stage.
func setupProc(t *testing.T, content string, w io.Writer, proc processor) (*Pipeline, *Tracker, *recorder, *marks, string, context.CancelFunc, chan error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tc := tailer.Config{Path: path, PollInterval: 20 * time.Millisecond, MaxLineBytes: 1 << 20}
	tc.SetDefaults()
	log := zerolog.New(w)
	tl, err := tailer.New(t.Context(), tc, checkpoint.Position{}, time.Time{}, log)
	if err != nil {
		t.Fatal(err)
	}
	gc := gelf.Config{Host: "node-1", Stream: "tok"}
	gc.SetDefaults()
	enc, err := gelf.NewEncoder(gc)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{got: make(chan struct{}, 1)}
	mk := &marks{}
	tr := NewTracker(mk)
	p := New([]Input{{Source: tl}}, proc, enc, rec, tr, log)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		tl.Close()
	})
	return p, tr, rec, mk, path, cancel, done
}

const goodLine = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%s","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"list","user":{"username":"alice"},"objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-21T10:00:00.000001Z","stageTimestamp":"2026-11-21T10:00:00.000201Z"}`

func good(id string) string { return strings.Replace(goodLine, "%s", id, 1) }

func decode(t *testing.T, msg []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(msg, &m); err != nil {
		t.Fatalf("message is not JSON: %v: %q", err, msg)
	}
	return m
}

func TestCheckpointMovesOnlyOnConfirmation(t *testing.T) {
	content := good("a") + "\n" + good("b") + "\n\n" + good("c") + "\n"
	p, tr, rec, mk, _, _, _ := setup(t, content)
	msgs := rec.waitFor(t, 3)
	// The recorder holds a message as soon as Send is entered; the pipeline
	// queues its position and counts it once Send has returned.
	for deadline := time.Now().Add(5 * time.Second); p.Stats().Sent < 3 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if _, n := mk.last(); n != 0 {
		t.Fatalf("checkpoint moved before any confirmation (%d marks)", n)
	}
	ends := []int64{int64(len(good("a")) + 1), int64(2*len(good("a")) + 2)}

	tr.Confirm(1)
	if pos, _ := mk.last(); pos.Offset != ends[0] {
		t.Fatalf("after confirming 1: offset %d, want %d", pos.Offset, ends[0])
	}
	// Confirming 2 covers the blank line after it too (nothing to send for it).
	tr.Confirm(2)
	if pos, _ := mk.last(); pos.Offset != ends[1]+1 {
		t.Fatalf("after confirming 2: offset %d, want %d", pos.Offset, ends[1]+1)
	}
	tr.Confirm(2) // repeated confirmations are harmless
	tr.Confirm(3)
	if pos, _ := mk.last(); pos.Offset != int64(len(content)) {
		t.Fatalf("after confirming 3: offset %d, want %d", pos.Offset, len(content))
	}
	for i, id := range []string{"a", "b", "c"} {
		m := decode(t, msgs[i])
		if m["_auditID"] != id || m["_X-OVH-TOKEN"] != "tok" {
			t.Fatalf("message %d: %v", i, m)
		}
	}
	st := p.Stats()
	if st.Sent != 3 || tr.Stats().Confirmed != 3 || st.SkippedBlank != 1 || st.Read != 4 {
		t.Fatalf("stats %+v, tracker %+v", st, tr.Stats())
	}
}

// dropIDs drops the events whose auditID starts with "drop", and rewrites
// the others' lines to carry "kept" in their level: the pipeline must ship
// what the stage returns, not the line it read.
type dropIDs struct{}

func (dropIDs) Process(line []byte, ev *audit.Event) ([]byte, bool) {
	if strings.HasPrefix(ev.AuditID, "drop") {
		return nil, false
	}
	ev.Level = "Request"
	return bytes.Replace(line, []byte(`"level":"Metadata"`), []byte(`"level":"Request"`), 1), true
}

// A dropped event gives no message, and its line's position is marked once
// everything before it is confirmed, like a blank line's.
func TestDroppedEvents(t *testing.T) {
	ids := []string{"drop0", "a", "drop1", "drop2", "b", "drop3"}
	var content string
	var end []int64 // end of each line
	for _, id := range ids {
		content += good(id) + "\n"
		end = append(end, int64(len(content)))
	}
	p, tr, rec, mk, _, _, _ := setupProc(t, content, zerolog.NewTestWriter(t), dropIDs{})
	msgs := rec.waitFor(t, 2)
	for deadline := time.Now().Add(5 * time.Second); p.Stats().Dropped < 4 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	// The leading dropped line is marked at once: nothing before it waits.
	if pos, n := mk.last(); n != 1 || pos.Offset != end[0] {
		t.Fatalf("before any confirmation: %d marks, offset %d, want 1 mark at %d", n, pos.Offset, end[0])
	}
	tr.Confirm(1)
	if pos, _ := mk.last(); pos.Offset != end[3] {
		t.Fatalf("after confirming 1: offset %d, want %d (past the two dropped lines after it)", pos.Offset, end[3])
	}
	tr.Confirm(2)
	if pos, _ := mk.last(); pos.Offset != end[5] {
		t.Fatalf("after confirming 2: offset %d, want %d", pos.Offset, end[5])
	}
	for i, id := range []string{"a", "b"} {
		m := decode(t, msgs[i])
		if m["_auditID"] != id || m["_audit_level"] != "Request" || !strings.Contains(m["full_message"].(string), `"level":"Request"`) {
			t.Fatalf("message %d: %v", i, m)
		}
	}
	if st := p.Stats(); st.Sent != 2 || st.Dropped != 4 || st.Read != 6 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBadLinesAmongGoodOnes(t *testing.T) {
	bad := []string{
		`{"kind": 0}`,
		`not json at all`,
		`[1,2,3]`,
		"{\"auditID\":\"x\xff\xfe\",\"stage\":", // invalid UTF-8, cut short
		"\x00\x00\x00",
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete"}`, // no auditID
		strings.Repeat("z", 2<<20), // longer than max_line_bytes (1 MiB here)
	}
	var b strings.Builder
	var want []string
	for i, l := range bad {
		id := string(rune('a' + i))
		b.WriteString(good(id) + "\n" + l + "\n")
		want = append(want, id, "")
	}
	b.WriteString(good("last") + "\n")
	want = append(want, "last")
	p, _, rec, _, path, _, _ := setup(t, b.String())
	msgs := rec.waitFor(t, len(want))
	for i, msg := range msgs {
		m := decode(t, msg)
		if sm, _ := m["short_message"].(string); sm == "" {
			t.Fatalf("message %d has an empty short_message", i)
		}
		if want[i] != "" {
			if m["_auditID"] != want[i] || m["_parse_error"] != nil {
				t.Fatalf("message %d: want event %q, got %v", i, want[i], m)
			}
			continue
		}
		if pe, _ := m["_parse_error"].(string); pe == "" {
			t.Fatalf("message %d: bad line not flagged _parse_error: %v", i, m)
		}
		if m["_source_file"] != path {
			t.Fatalf("message %d: _source_file %v", i, m["_source_file"])
		}
		if len(msg) > 256<<10 {
			t.Fatalf("message %d is %d bytes", i, len(msg))
		}
	}
	long := decode(t, msgs[2*6+1])
	if long["_line_truncated_bool"] != "true" {
		t.Fatalf("long line not flagged: %v", long["_line_truncated_bool"])
	}
	if st := p.Stats(); st.ParseErrors != uint64(len(bad)) || st.LongLines != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	_, _, _, _, _, cancel, done := setup(t, good("a")+"\n")
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
		done <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// TestTooLargeIsEncodedAgainSmaller: a message the sender refuses as too
// large is encoded again, smaller, flagged truncated, and takes the next
// sequence number; the checkpoint then moves past it as usual.
func TestTooLargeIsEncodedAgainSmaller(t *testing.T) {
	big := strings.Replace(good("big"), `"verb":"list"`, `"verb":"list","annotations":{"note":"`+strings.Repeat("x", 12000)+`"}`, 1)
	content := good("a") + "\n" + big + "\n" + good("c") + "\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tc := tailer.Config{Path: path, PollInterval: 20 * time.Millisecond}
	tc.SetDefaults()
	log := zerolog.New(zerolog.NewTestWriter(t))
	tl, err := tailer.New(t.Context(), tc, checkpoint.Position{}, time.Time{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	gc := gelf.Config{Host: "node-1", FullMessage: gelf.FullMessageRaw}
	gc.SetDefaults()
	enc, err := gelf.NewEncoder(gc)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{got: make(chan struct{}, 1)}
	const limit = 9000
	rec.refuseOver(limit, 3)
	mk := &marks{}
	tr := NewTracker(mk)
	p := New([]Input{{Source: tl}}, nil, enc, rec, tr, log)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	msgs := rec.waitFor(t, 3)
	if rec.refused == 0 {
		t.Fatal("the big message was never refused: the test does not test anything")
	}
	m := decode(t, msgs[1])
	if m["_auditID"] != "big" || m["_truncated_bool"] != "true" || len(msgs[1]) > limit {
		t.Fatalf("re-encoded message: %d bytes (limit %d), _auditID %v, _truncated_bool %v", len(msgs[1]), limit, m["_auditID"], m["_truncated_bool"])
	}
	if decode(t, msgs[0])["_auditID"] != "a" || decode(t, msgs[2])["_auditID"] != "c" {
		t.Fatal("neighbours changed")
	}
	// The positions are queued once Send returned; Stats counts the batch
	// after that.
	for deadline := time.Now().Add(5 * time.Second); p.Stats().Sent < 3 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	tr.Confirm(3)
	if pos, _ := mk.last(); pos.Offset != int64(len(content)) {
		t.Fatalf("checkpoint at %d, want %d", pos.Offset, len(content))
	}
	if st := p.Stats(); st.Sent != 3 || st.Truncated != 1 {
		t.Fatalf("stats %+v, want Sent 3, Truncated 1", st)
	}
}

// TestWarningsRateLimited: a burst of bad lines and of lines over
// max_line_bytes is counted in full but logs one warning of each kind, so
// that hostile input cannot flood the journal.
func TestWarningsRateLimited(t *testing.T) {
	const n = 40
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "not an event %d\n%s\n", i, strings.Repeat("y", 1<<20+10))
	}
	b.WriteString(good("last") + "\n")
	var logBuf syncBuffer
	p, _, rec, _, _, _, _ := setupLog(t, b.String(), &logBuf)
	rec.waitFor(t, 2*n+1)
	for deadline := time.Now().Add(5 * time.Second); p.Stats().Sent < 2*n+1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	// The long lines are also not valid events: 2n parse errors.
	if st := p.Stats(); st.ParseErrors != 2*n || st.LongLines != n {
		t.Fatalf("stats %+v, want %d parse errors and %d long lines", st, 2*n, n)
	}
	logged := logBuf.String()
	if got := strings.Count(logged, "line is not a valid audit event"); got != 1 {
		t.Errorf("%d parse-error warnings for a burst of %d, want 1:\n%s", got, 2*n, logged)
	}
	if got := strings.Count(logged, "line longer than tail.max_line_bytes"); got != 1 {
		t.Errorf("%d long-line warnings for a burst of %d, want 1:\n%s", got, n, logged)
	}
}

func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := rateLimit{every: 10 * time.Second}
		if !r.allow() {
			t.Fatal("the first event was held back")
		}
		time.Sleep(9 * time.Second)
		if r.allow() {
			t.Fatal("a second event 9 s later was let through")
		}
		time.Sleep(time.Second)
		if !r.allow() {
			t.Fatal("an event 10 s after the first was held back")
		}
		if r.allow() {
			t.Fatal("two events at once were let through")
		}
	})
}

// syncBuffer is a bytes.Buffer safe for the pipeline's goroutine and the
// test's.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
