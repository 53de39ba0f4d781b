package gelf

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/audittail/audittail/pkg/audit"
)

// bigLine builds an audit line in the apiserver's key order, with a body of
// bodyBytes in each of requestObject and responseObject (none if 0), and
// returns it with the same line without the two bodies.
func bigLine(bodyBytes int, annotations map[string]string) (line, stripped string) {
	ann, _ := json.Marshal(annotations)
	head := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"7d2f1c3e-9a8b-4c5d-8e7f-6a5b4c3d2e1f","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/configmaps?fieldManager=kubectl-client-side-apply","verb":"create","user":{"username":"alice","groups":["dev","system:authenticated"]},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl/v1.31.0","objectRef":{"resource":"configmaps","namespace":"default","name":"big","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201}`
	tail := `,"requestReceivedTimestamp":"2026-11-21T10:00:00.100000Z","stageTimestamp":"2026-11-21T10:00:00.250000Z","annotations":` + string(ann) + `}`
	bodies := ""
	if bodyBytes > 0 {
		data := strings.Repeat(`x"\`, bodyBytes/3) // escapes double its escaped size
		body := func(kind string) string {
			d, _ := json.Marshal(map[string]any{"kind": kind, "apiVersion": "v1", "data": map[string]string{"blob": data}})
			return string(d)
		}
		bodies = `,"requestObject":` + body("ConfigMap") + `,"responseObject":` + body("ConfigMap")
	}
	return head + bodies + tail, head + tail
}

// fieldsExcept returns the fields of m without the given keys.
func fieldsExcept(m message, keys ...string) map[string]any {
	out := maps.Clone(m.fields)
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// TestTruncate10MiB is the case the cap exists for: a RequestResponse event of
// 10 MiB with the default config. Step 1 must be enough: every field is kept and
// full_message is the line without its bodies.
func TestTruncate10MiB(t *testing.T) {
	line, stripped := bigLine(3<<20+200000, map[string]string{"authorization.k8s.io/decision": "allow"})
	if len(line) < 10<<20 || len(line) > 11<<20 {
		t.Fatalf("test line is %d bytes, want 10 to 11 MiB", len(line))
	}
	e := newTestEncoder(t, testConfig())
	cfg := e.Config()
	r := record([]byte(line), "audit.log", 0)
	out, res := e.Encode(nil, r)
	m := checkMessage(t, cfg, r, out, res)
	if len(out) > 262144 || !res.Truncated || m.fields["_truncated_bool"] != "true" {
		t.Fatalf("len %d, Truncated %v", len(out), res.Truncated)
	}
	if m.str("_auditID") != "7d2f1c3e-9a8b-4c5d-8e7f-6a5b4c3d2e1f" {
		t.Errorf("_auditID = %q", m.str("_auditID"))
	}
	if m.str("full_message") != stripped {
		t.Errorf("full_message is not the line without bodies:\n%.500s", m.str("full_message"))
	}
	// Same fields as the event without its bodies.
	rs := record([]byte(stripped), "audit.log", 0)
	out2, res2 := e.Encode(nil, rs)
	m2 := checkMessage(t, cfg, rs, out2, res2)
	got := fieldsExcept(m, "_truncated_bool", "_original_size_int")
	if want := m2.fields; !maps.Equal(got, want) {
		t.Errorf("fields differ from the stripped event's\n got: %v\nwant: %v", got, want)
	}
	// The original is the same head with the whole line, escaped, as full_message.
	if want := len(out2) - escapedLen(stripped) + escapedLen(line); res.OriginalSize != want {
		t.Errorf("OriginalSize = %d, want %d", res.OriginalSize, want)
	}
}

// TestTruncateStep2FullMessage: no bodies to drop, one long string. full_message
// is cut to the room left; the fields keep their MaxFieldBytes cap.
func TestTruncateStep2FullMessage(t *testing.T) {
	uri := "/api/v1/namespaces/default/pods?labelSelector=" + strings.Repeat("a=b,", 100000)
	ev := audit.Event{AuditID: "a1", Stage: "ResponseComplete", Verb: "list", RequestURI: uri,
		User: audit.UserInfo{Username: "alice"}, ObjectRef: &audit.ObjectReference{Resource: "pods", Namespace: "default"}}
	e := newTestEncoder(t, testConfig())
	m, out, res := encodeEvent(t, e, &ev)
	if !res.Truncated || len(out) > DefaultMaxMessageBytes || len(out) < DefaultMaxMessageBytes-trailerMax-8 {
		t.Fatalf("len %d, Truncated %v: want a message filled up to the cap", len(out), res.Truncated)
	}
	if got := m.str("_requestURI"); got != uri[:DefaultMaxFieldBytes] {
		t.Errorf("_requestURI is %d bytes, want the first %d", len(got), DefaultMaxFieldBytes)
	}
	line, _ := json.Marshal(&ev)
	if full := m.str("full_message"); !strings.HasPrefix(string(line), full) || len(full) < DefaultMaxMessageBytes/2 {
		t.Errorf("full_message (%d bytes) is not a long prefix of the line", len(full))
	}
	if m.str("_user_username") != "alice" || m.str("_objectRef_resource") != "pods" {
		t.Errorf("short fields lost: %v", m.keys)
	}
}

// TestTruncateStep2LongStrings: the fields alone are over the cap, so the long
// strings are cut further (32 annotations of 16 KiB leave no room at 16 KiB;
// at 4096 bytes they do).
func TestTruncateStep2LongStrings(t *testing.T) {
	ann := map[string]string{}
	for i := range 32 {
		ann[fmt.Sprintf("webhook.example.com/note-%02d", i)] = strings.Repeat(string(rune('a'+i%26)), 20000)
	}
	line, stripped := bigLine(100000, ann)
	e := newTestEncoder(t, testConfig())
	r := record([]byte(line), "audit.log", 0)
	out, res := e.Encode(nil, r)
	m := checkMessage(t, e.Config(), r, out, res)
	if !res.Truncated {
		t.Fatal("not truncated")
	}
	n := 0
	for _, k := range m.keys {
		if strings.HasPrefix(k, "_annotations_webhook_example_com_note_") {
			n++
			if l := len(m.str(k)); l != 4096 {
				t.Errorf("%s is %d bytes, want 4096", k, l)
			}
		}
	}
	if n != 32 {
		t.Errorf("%d annotation fields, want 32", n)
	}
	// full_message comes from the stripped line (step 1 was applied first).
	if full := m.str("full_message"); len(full) < DefaultMaxMessageBytes/4 || !strings.HasPrefix(stripped, full) {
		t.Errorf("full_message (%d bytes) is not a prefix of the line without bodies", len(full))
	}
	// Short fields are untouched.
	for k, v := range map[string]string{"_auditID": "7d2f1c3e-9a8b-4c5d-8e7f-6a5b4c3d2e1f", "_verb": "create", "_user_username": "alice",
		"_requestURI": "/api/v1/namespaces/default/configmaps?fieldManager=kubectl-client-side-apply"} {
		if m.str(k) != v {
			t.Errorf("%s = %q, want %q", k, m.str(k), v)
		}
	}
}

// TestTruncateStep3Core: a short field (not one of the long strings) is bigger
// than the whole cap, so only the core fields are left, plus what full_message fits.
func TestTruncateStep3Core(t *testing.T) {
	ev := audit.Event{AuditID: "a1", Stage: "ResponseComplete", Verb: "get", Level: "Metadata",
		User:           audit.UserInfo{Username: strings.Repeat("u", 10000)},
		ObjectRef:      &audit.ObjectReference{Resource: "pods", Namespace: "default", Name: "p"},
		ResponseStatus: &audit.Status{Code: 200}, Annotations: map[string]string{"a": "b"}}
	e := newTestEncoder(t, Config{Host: "node-1", Stream: "test-token", Cluster: "c1", MaxMessageBytes: 4096})
	m, out, res := encodeEvent(t, e, &ev)
	if !res.Truncated || len(out) > 4096 {
		t.Fatalf("len %d, Truncated %v", len(out), res.Truncated)
	}
	core := []string{"version", "host", "short_message", "timestamp", "level", "_X-OVH-TOKEN", "_agent", "_cluster",
		"_auditID", "_stage", "_verb", "_audit_level", "_responseStatus_code_int", "_user_kind", "full_message", "_truncated_bool", "_original_size_int"}
	if !slices.Equal(m.keys, core) {
		t.Errorf("keys %v\nwant %v", m.keys, core)
	}
	if m.str("_auditID") != "a1" || m.fields["_responseStatus_code_int"] != json.Number("200") {
		t.Errorf("core values wrong: %v", m.fields)
	}
	if s := m.str("short_message"); !strings.HasPrefix(s, "get pods default/p by uuuu") || len(s) > maxShortBytes {
		t.Errorf("short_message = %q", s)
	}
}

// TestTruncateUnparsable: a 10 MiB line that is not JSON still gives one message.
func TestTruncateUnparsable(t *testing.T) {
	line := []byte(strings.Repeat("garbage \x00\xff", 1<<20))
	e := newTestEncoder(t, testConfig())
	r := record(line, "audit.log", 123)
	out, res := e.Encode(nil, r)
	m := checkMessage(t, e.Config(), r, out, res)
	if !res.Truncated || m.str("_parse_error") != "not a JSON object" || m.fields["_source_offset_int"] != json.Number("123") {
		t.Errorf("Truncated %v, fields %v", res.Truncated, fieldsExcept(m, "full_message"))
	}
	if full := m.str("full_message"); !strings.HasPrefix(strings.Repeat("garbage \x00\uFFFD", 1<<20), full) || len(full) < 100000 {
		t.Errorf("full_message (%d bytes) is not a long prefix of the sanitised line", len(full))
	}
}

// TestTruncateFieldOnly: a field over MaxFieldBytes in a message that fits is cut
// and reported; OriginalSize is the size of the uncut message.
func TestTruncateFieldOnly(t *testing.T) {
	ev := audit.Event{AuditID: "a1", Stage: "ResponseComplete",
		ResponseStatus: &audit.Status{Code: 500, Message: strings.Repeat("é", 10000)}}
	cfg := testConfig()
	cfg.FullMessage = FullMessageNone
	m, out, res := encodeEvent(t, newTestEncoder(t, cfg), &ev)
	if !res.Truncated || len(m.str("_responseStatus_message")) != 16384 {
		t.Fatalf("Truncated %v, message %d bytes", res.Truncated, len(m.str("_responseStatus_message")))
	}
	cfg.MaxFieldBytes = MaxMaxFieldBytes
	_, full, res2 := encodeEvent(t, newTestEncoder(t, cfg), &ev)
	if res2.Truncated || res.OriginalSize != len(full) {
		t.Errorf("OriginalSize = %d, want the uncut size %d", res.OriginalSize, len(full))
	}
	if len(out) >= len(full) {
		t.Errorf("cut message (%d) not smaller than the uncut one (%d)", len(out), len(full))
	}
}

// TestTruncateHugeAuditID: an auditID comes from a client header and can be huge.
func TestTruncateHugeAuditID(t *testing.T) {
	ev := audit.Event{AuditID: strings.Repeat("\x01", 1<<20), Stage: "ResponseComplete"}
	for _, max := range []int{4096, 65536, DefaultMaxMessageBytes} {
		e := newTestEncoder(t, Config{Host: "h", MaxMessageBytes: max})
		m, out, res := encodeEvent(t, e, &ev)
		if !res.Truncated || len(out) > max || m.str("_auditID") == "" {
			t.Errorf("cap %d: len %d, Truncated %v, _auditID %d bytes", max, len(out), res.Truncated, len(m.str("_auditID")))
		}
	}
}

// TestTruncateSweep encodes events of every shape under caps around their
// natural size: never over the cap, never truncated when it fits.
func TestTruncateSweep(t *testing.T) {
	line, _ := bigLine(3000, map[string]string{"authorization.k8s.io/decision": "allow", "k": strings.Repeat("\"", 500)})
	uri := `{"auditID":"a","stage":"s","requestURI":"` + strings.Repeat("/x", 3000) + `"}`
	lines := [][]byte{[]byte(line), []byte(metadataLine), []byte(strings.Repeat("\x00", 5000)), []byte(uri)}
	for _, mode := range []FullMessageMode{FullMessageRaw, FullMessageNone} {
		for _, l := range lines {
			sweep(t, l, mode)
		}
	}
}

func sweep(t *testing.T, l []byte, mode FullMessageMode) {
	t.Helper()
	cfg := Config{Host: "node-1", Stream: "test-token", FullMessage: mode}
	natural, _ := newTestEncoder(t, cfg).Encode(nil, record(l, "s", 0))
	size := len(natural)
	for max := max(MinMaxMessageBytes, size-300); max <= size+3; max++ {
		cfg.MaxMessageBytes = max
		e := newTestEncoder(t, cfg)
		r := record(l, "s", 0)
		out, res := e.Encode(nil, r)
		checkMessage(t, e.Config(), r, out, res)
		if res.Truncated != (max < size) {
			t.Fatalf("mode %s, natural size %d, cap %d: Truncated = %v", mode, size, max, res.Truncated)
		}
		if res.OriginalSize != size {
			t.Fatalf("mode %s, natural size %d, cap %d: OriginalSize = %d", mode, size, max, res.OriginalSize)
		}
	}
}

// TestEncodeLimit: a per-message limit gives exactly what an encoder
// configured with that MaxMessageBytes gives, and is clamped to
// [MinMaxMessageBytes, MaxMessageBytes].
func TestEncodeLimit(t *testing.T) {
	line, _ := bigLine(100000, map[string]string{"authorization.k8s.io/decision": "allow"})
	r := record([]byte(line), "audit.log", 0)
	e := newTestEncoder(t, testConfig())
	for _, limit := range []int{0, 1, MinMaxMessageBytes, 20000, 100000, 1 << 30} {
		want := limit
		switch {
		case limit == 0 || limit > e.Config().MaxMessageBytes:
			want = e.Config().MaxMessageBytes
		case limit < MinMaxMessageBytes:
			want = MinMaxMessageBytes
		}
		cfg := testConfig()
		cfg.MaxMessageBytes = want
		ref := newTestEncoder(t, cfg)
		wantOut, wantRes := ref.Encode(nil, r)
		got, res := e.EncodeLimit(nil, r, limit)
		if string(got) != string(wantOut) || res != wantRes {
			t.Errorf("EncodeLimit(%d): %d bytes %+v, want %d bytes %+v (Encode with max_message_bytes %d)", limit, len(got), res, len(wantOut), wantRes, want)
		}
		if len(got) > want {
			t.Errorf("EncodeLimit(%d): %d bytes, over %d", limit, len(got), want)
		}
		checkMessage(t, ref.Config(), r, got, res)
	}
}
