package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/audittail/audittail/pkg/audit"
)

// v1Line is a RequestResponse event in the exact shape of the apiserver log
// backend (k8s.io/apiserver v0.37, keys in struct order).
const v1Line = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"6f1c2a8e-5b7d-4c1e-9a0b-3d2f1e0c9b8a","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods?fieldManager=kubectl","verb":"create","user":{"username":"alice","uid":"u1","groups":["dev","system:authenticated"],"extra":{"authentication.kubernetes.io/credential-id":["X509SHA256=ab12"]}},"impersonatedUser":{"username":"bob","groups":["system:authenticated"]},"authenticationMetadata":{"impersonationConstraint":"x"},"sourceIPs":["10.0.0.1","192.168.1.2"],"userAgent":"kubectl/v1.37.0 (linux/amd64) kubernetes/abc","objectRef":{"resource":"pods","namespace":"default","name":"nginx","uid":"uid-1","apiVersion":"v1","resourceVersion":"42"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"nginx"}},"responseObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"nginx","uid":"uid-1"}},"requestReceivedTimestamp":"2026-11-21T10:00:00.123456Z","stageTimestamp":"2026-11-21T10:00:00.126456Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"x\""}}`

// metadataLine is a typical Metadata-level event (no bodies), used by the benchmark.
const metadataLine = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0b8e5c3a-1f2d-4e6b-9c7a-8d5e4f3a2b1c","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/configmaps/kube-proxy","verb":"get","user":{"username":"system:serviceaccount:kube-system:kube-proxy","uid":"5b3c1e2d-7a8f-4b9c-a1d2-e3f4a5b6c7d8","groups":["system:serviceaccounts","system:serviceaccounts:kube-system","system:authenticated"],"extra":{"authentication.kubernetes.io/credential-id":["JTI=1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"],"authentication.kubernetes.io/node-name":["node-1"],"authentication.kubernetes.io/pod-name":["kube-proxy-x7k2p"]}},"sourceIPs":["10.0.0.11"],"userAgent":"kube-proxy/v1.31.2 (linux/amd64) kubernetes/5864a46","objectRef":{"resource":"configmaps","namespace":"kube-system","name":"kube-proxy","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-21T10:00:00.123456Z","stageTimestamp":"2026-11-21T10:00:00.125812Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"kube-proxy/kube-system\" of Role \"kube-proxy\" to ServiceAccount \"kube-proxy/kube-system\""}}`

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UTC()
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		line string
		want audit.Event
	}{
		{
			name: "v1 RequestResponse",
			line: v1Line,
			want: audit.Event{
				Kind: "Event", APIVersion: "audit.k8s.io/v1", Level: "RequestResponse",
				AuditID: "6f1c2a8e-5b7d-4c1e-9a0b-3d2f1e0c9b8a", Stage: "ResponseComplete",
				RequestURI: "/api/v1/namespaces/default/pods?fieldManager=kubectl", Verb: "create",
				User: audit.UserInfo{Username: "alice", UID: "u1", Groups: []string{"dev", "system:authenticated"},
					Extra: map[string][]string{"authentication.kubernetes.io/credential-id": {"X509SHA256=ab12"}}},
				ImpersonatedUser: &audit.UserInfo{Username: "bob", Groups: []string{"system:authenticated"}},
				SourceIPs:        []string{"10.0.0.1", "192.168.1.2"},
				UserAgent:        "kubectl/v1.37.0 (linux/amd64) kubernetes/abc",
				ObjectRef: &audit.ObjectReference{Resource: "pods", Namespace: "default", Name: "nginx",
					UID: "uid-1", APIVersion: "v1", ResourceVersion: "42"},
				ResponseStatus:           &audit.Status{Code: 201},
				RequestObject:            json.RawMessage(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"nginx"}}`),
				ResponseObject:           json.RawMessage(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"nginx","uid":"uid-1"}}`),
				RequestReceivedTimestamp: mustTime(t, "2026-11-21T10:00:00.123456Z"),
				StageTimestamp:           mustTime(t, "2026-11-21T10:00:00.126456Z"),
				Annotations: map[string]string{"authorization.k8s.io/decision": "allow",
					"authorization.k8s.io/reason": `RBAC: allowed by ClusterRoleBinding "x"`},
			},
		},
		{
			name: "v1beta1 falls back to timestamp",
			line: `{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","metadata":{"creationTimestamp":"2017-09-11T19:55:05Z"},"level":"Metadata","timestamp":"2017-09-11T19:55:05Z","auditID":"033d17af-082d-4b24-aa22-627752e83d71","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"list","user":{"username":"system:admin","groups":["system:masters","system:authenticated"]},"impersonatedUser":{"username":"bob","groups":["system:authenticated"]},"sourceIPs":["::1"],"objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},"responseStatus":{"metadata":{},"status":"Failure","message":"pods is forbidden: User \"bob\" cannot list pods in the namespace \"default\"","reason":"Forbidden","details":{"kind":"pods"},"code":403}}`,
			want: audit.Event{
				Kind: "Event", APIVersion: "audit.k8s.io/v1beta1", Level: "Metadata",
				AuditID: "033d17af-082d-4b24-aa22-627752e83d71", Stage: "ResponseComplete",
				RequestURI: "/api/v1/namespaces/default/pods", Verb: "list",
				User:             audit.UserInfo{Username: "system:admin", Groups: []string{"system:masters", "system:authenticated"}},
				ImpersonatedUser: &audit.UserInfo{Username: "bob", Groups: []string{"system:authenticated"}},
				SourceIPs:        []string{"::1"},
				ObjectRef:        &audit.ObjectReference{Resource: "pods", Namespace: "default", APIVersion: "v1"},
				ResponseStatus: &audit.Status{Status: "Failure", Reason: "Forbidden", Code: 403,
					Message: `pods is forbidden: User "bob" cannot list pods in the namespace "default"`},
				RequestReceivedTimestamp: mustTime(t, "2017-09-11T19:55:05Z"),
				Timestamp:                mustTime(t, "2017-09-11T19:55:05Z"),
			},
		},
		{
			name: "no kind or apiVersion, sorted keys (falco trace)",
			line: `{"auditID":"a1","level":"Metadata","stage":"ResponseComplete","stageTimestamp":"2018-10-26T13:42:46.808261Z","timestamp":"2018-10-26T13:42:46Z","requestReceivedTimestamp":"2018-10-26T13:42:46.764713Z","user":{}}` + "\r\n",
			want: audit.Event{
				Level: "Metadata", AuditID: "a1", Stage: "ResponseComplete",
				RequestReceivedTimestamp: mustTime(t, "2018-10-26T13:42:46.764713Z"),
				StageTimestamp:           mustTime(t, "2018-10-26T13:42:46.808261Z"),
				Timestamp:                mustTime(t, "2018-10-26T13:42:46Z"),
			},
		},
		{
			name: "nulls, empty timestamps, v1alpha1, non-UTC offset",
			line: ` {"apiVersion":"audit.k8s.io/v1alpha1","auditID":"a2","stage":"Panic","user":null,"objectRef":null,"requestObject":null,"responseObject":null,"annotations":null,"requestReceivedTimestamp":"","stageTimestamp":"2026-11-21T12:00:00.5+02:00","timestamp":null} `,
			want: audit.Event{
				APIVersion: "audit.k8s.io/v1alpha1", AuditID: "a2", Stage: "Panic",
				StageTimestamp: mustTime(t, "2026-11-21T10:00:00.5Z"),
			},
		},
		{
			name: "invalid UTF-8 in a string is kept as it is",
			line: "{\"auditID\":\"a\xff\",\"stage\":\"S\xc3\"}",
			want: audit.Event{AuditID: "a\xff", Stage: "S\xc3"},
		},
		{
			name: "lone surrogate escapes become U+FFFD",
			line: `{"auditID":"a\ud800","stage":"\udc00\ud83d\ude80\ud83dx"}`,
			want: audit.Event{AuditID: "a\uFFFD", Stage: "\uFFFD\U0001F680\uFFFDx"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev audit.Event
			if err := audit.Parse([]byte(tt.line), &ev); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			assertSameEvent(t, &ev, &tt.want)
			// The JSON form writes every invalid byte as \ufffd; these are exact.
			if ev.AuditID != tt.want.AuditID || ev.Stage != tt.want.Stage {
				t.Errorf("AuditID, Stage = %q, %q; want %q, %q", ev.AuditID, ev.Stage, tt.want.AuditID, tt.want.Stage)
			}
			if ev.StageTimestamp.Location() != time.UTC && !ev.StageTimestamp.IsZero() {
				t.Errorf("StageTimestamp location = %v, want UTC", ev.StageTimestamp.Location())
			}
		})
	}
}

// assertSameEvent compares two events, treating nil and empty slices and maps alike.
func assertSameEvent(t *testing.T, got, want *audit.Event) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("marshal got: %v", err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("marshal want: %v", err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("event mismatch\n got: %s\nwant: %s", g, w)
	}
	// time.Time equality is not covered by the JSON form at sub-µs precision.
	for _, p := range [][2]time.Time{
		{got.RequestReceivedTimestamp, want.RequestReceivedTimestamp},
		{got.StageTimestamp, want.StageTimestamp},
		{got.Timestamp, want.Timestamp},
	} {
		if !p[0].Equal(p[1]) {
			t.Errorf("time %v, want %v", p[0], p[1])
		}
	}
}

func TestParseInvalid(t *testing.T) {
	long := strings.Repeat("é", 100)
	tests := []struct {
		name   string
		line   string
		reason string
	}{
		{"empty", "", "empty line"},
		{"blank", " \t\r", "empty line"},
		{"array", `[]`, "not a JSON object"},
		{"array of events", `[{"auditID":"a","stage":"s"}]`, "not a JSON object"},
		{"number", `42`, "not a JSON object"},
		{"string", `"Event"`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"true", `true`, "not a JSON object"},
		{"legacy text format", `2026-11-21T12:00:00.123456789+02:00 AUDIT: id="6f1c2a8e" stage="ResponseComplete"`, "not a JSON object"},
		{"invalid UTF-8", "\xff\xfe{}", "not a JSON object"},
		{"NUL", "\x00", "not a JSON object"},
		{"kind number (fal_01_003)", `{"kind": 0}`, "wrong type for kind: got number, want string"},
		{"kind Foo", `{"kind":"Foo","auditID":"a","stage":"s"}`, `kind is "Foo", want "Event"`},
		{"kind EventList", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`, `kind is "EventList", want "Event"`},
		{"kind long", `{"kind":"` + long + `","auditID":"a","stage":"s"}`, `kind is "` + strings.Repeat("é", 32) + `"..., want "Event"`},
		{"apiVersion v1", `{"apiVersion":"v1","auditID":"a","stage":"s"}`, `apiVersion is "v1", want audit.k8s.io/v1, v1beta1 or v1alpha1`},
		{"apiVersion v2", `{"kind":"Event","apiVersion":"audit.k8s.io/v2","auditID":"a","stage":"s"}`, `apiVersion is "audit.k8s.io/v2", want audit.k8s.io/v1, v1beta1 or v1alpha1`},
		{"missing auditID", `{"kind":"Event","stage":"ResponseComplete"}`, "missing auditID"},
		{"empty auditID", `{"auditID":"","stage":"ResponseComplete"}`, "missing auditID"},
		{"null auditID", `{"auditID":null,"stage":"ResponseComplete"}`, "missing auditID"},
		{"missing stage", `{"auditID":"a"}`, "missing stage"},
		{"empty object", `{}`, "missing auditID"},
		{"truncated", `{"auditID":"a","stage":"Res`, "invalid JSON at byte 27: unexpected end of JSON input"},
		{"truncated after brace", `{`, "invalid JSON at byte 1: unexpected end of JSON input"},
		{"missing value", `{"a":}`, "invalid JSON at byte 6: invalid character '}' looking for beginning of value"},
		{"NUL in object", "{\"auditID\":\"a\",\x00}", `invalid JSON at byte 16: invalid character '\x00' looking for beginning of object key string`},
		{"NUL in string", "{\"auditID\":\"a\x00\"}", `invalid JSON at byte 14: invalid character '\x00' in string literal`},
		{"two objects", `{"auditID":"a","stage":"s"} {"auditID":"b","stage":"s"}`, "invalid JSON at byte 29: invalid character '{' after top-level value"},
		{"trailing comma", `{"auditID":"a","stage":"s",}`, "invalid JSON at byte 28: invalid character '}' looking for beginning of object key string"},
		{"groups element number", `{"auditID":"a","stage":"s","user":{"groups":[1]}}`, "wrong type for user.groups: got number, want string"},
		{"extra not a list", `{"auditID":"a","stage":"s","user":{"extra":{"k":"v"}}}`, "wrong type for user.extra: got string, want array"},
		{"user string", `{"auditID":"a","stage":"s","user":"alice"}`, "wrong type for user: got string, want object"},
		{"objectRef array", `{"auditID":"a","stage":"s","objectRef":[]}`, "wrong type for objectRef: got array, want object"},
		{"annotation number", `{"auditID":"a","stage":"s","annotations":{"k":1}}`, "wrong type for annotations: got number, want string"},
		{"code too large", `{"auditID":"a","stage":"s","responseStatus":{"code":1e10}}`, "wrong type for responseStatus.code: got number 1e10, want integer"},
		{"code fraction", `{"auditID":"a","stage":"s","responseStatus":{"code":200.5}}`, "wrong type for responseStatus.code: got number 200.5, want integer"},
		{"code string", `{"auditID":"a","stage":"s","responseStatus":{"code":"200"}}`, "wrong type for responseStatus.code: got string, want integer"},
		{"auditID bool", `{"auditID":true,"stage":"s"}`, "wrong type for auditID: got bool, want string"},
		{"bad stageTimestamp", `{"auditID":"a","stage":"s","stageTimestamp":"yesterday"}`, `invalid stageTimestamp "yesterday": want an RFC 3339 time`},
		{"bad requestReceivedTimestamp", `{"auditID":"a","stage":"s","requestReceivedTimestamp":"2018-10-26 13:42:46"}`, `invalid requestReceivedTimestamp "2018-10-26 13:42:46": want an RFC 3339 time`},
		{"bad timestamp", `{"auditID":"a","stage":"s","timestamp":"2018-13-01T00:00:00Z"}`, `invalid timestamp "2018-13-01T00:00:00Z": want an RFC 3339 time`},
		{"numeric stageTimestamp", `{"auditID":"a","stage":"s","stageTimestamp":1540561366}`, "wrong type for stageTimestamp: got number, want string"},
		{"deep nesting", `{"auditID":"a","stage":"s","requestObject":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "invalid JSON at byte 10043: invalid character '[' exceeded max depth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := audit.Event{AuditID: "stale", Stage: "stale", Annotations: map[string]string{"stale": "x"}}
			err := audit.Parse([]byte(tt.line), &ev)
			var pe *audit.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error = %v (%T), want *audit.ParseError", err, err)
			}
			if pe.Reason != tt.reason {
				t.Errorf("Reason = %q\n             want %q", pe.Reason, tt.reason)
			}
			if got, want := err.Error(), "invalid audit event: "+tt.reason; got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
			if ev.AuditID != "" || ev.Stage != "" || len(ev.Annotations) != 0 {
				t.Errorf("event not reset after error: %+v", ev)
			}
		})
	}
}

func TestParseErrorUnwrap(t *testing.T) {
	var ev audit.Event
	err := audit.Parse([]byte(`{"a"`), &ev)
	var syn *json.SyntaxError
	if !errors.As(err, &syn) {
		t.Fatalf("errors.As(%v, *json.SyntaxError) = false", err)
	}
}

// TestParseReuse parses a full event and then a minimal one into the same Event:
// nothing of the first may leak into the second.
func TestParseReuse(t *testing.T) {
	var ev audit.Event
	if err := audit.Parse([]byte(v1Line), &ev); err != nil {
		t.Fatal(err)
	}
	minimal := `{"auditID":"b","stage":"RequestReceived","user":{"username":"carol"}}`
	if err := audit.Parse([]byte(minimal), &ev); err != nil {
		t.Fatal(err)
	}
	assertSameEvent(t, &ev, &audit.Event{AuditID: "b", Stage: "RequestReceived", User: audit.UserInfo{Username: "carol"}})
	if ev.ObjectRef != nil || ev.ImpersonatedUser != nil || ev.ResponseStatus != nil {
		t.Errorf("pointers not reset: %+v", ev)
	}
	if len(ev.RequestObject) != 0 || len(ev.ResponseObject) != 0 || len(ev.Annotations) != 0 ||
		len(ev.User.Groups) != 0 || len(ev.User.Extra) != 0 || len(ev.SourceIPs) != 0 {
		t.Errorf("slices or maps not reset: %+v", ev)
	}
}

func TestEventTime(t *testing.T) {
	stage := mustTime(t, "2026-11-21T10:00:00.2Z")
	recv := mustTime(t, "2026-11-21T10:00:00.1Z")
	tests := []struct {
		ev   audit.Event
		want time.Time
	}{
		{audit.Event{StageTimestamp: stage, RequestReceivedTimestamp: recv}, stage},
		{audit.Event{RequestReceivedTimestamp: recv}, recv},
		{audit.Event{}, time.Time{}},
	}
	for _, tt := range tests {
		if got := tt.ev.Time(); !got.Equal(tt.want) {
			t.Errorf("Time() = %v, want %v", got, tt.want)
		}
	}
}

// sampleLines is SampleLines (decode_test.go, in package audit so that its
// tests share it).
func sampleLines(tb testing.TB) (names []string, lines [][]byte) { return audit.SampleLines(tb) }

// TestParseSamples parses every recorded sample line. Only the synthetic
// fal_01_003.json and the blank lines some Falco traces end with may fail.
func TestParseSamples(t *testing.T) {
	names, lines := sampleLines(t)
	var ev audit.Event
	ok, v1beta1 := 0, 0
	for i, line := range lines {
		err := audit.Parse(line, &ev)
		switch {
		case strings.HasPrefix(names[i], "fal_01_003.json"):
			if err == nil || err.(*audit.ParseError).Reason != "wrong type for kind: got number, want string" {
				t.Errorf("%s: err = %v, want the kind type error", names[i], err)
			}
			continue
		case len(bytes.TrimSpace(line)) == 0:
			if err == nil || err.(*audit.ParseError).Reason != "empty line" {
				t.Errorf("%s: err = %v, want empty line", names[i], err)
			}
			continue
		case err != nil:
			t.Errorf("%s: %v", names[i], err)
			continue
		}
		ok++
		if ev.AuditID == "" || ev.Stage == "" || ev.Time().IsZero() || ev.RequestReceivedTimestamp.IsZero() {
			t.Errorf("%s: incomplete event %+v", names[i], ev)
		}
		if ev.APIVersion == audit.APIVersionV1beta1 && !ev.Timestamp.IsZero() {
			v1beta1++
		}
	}
	// 757 audit2rbac events + 51 Falco events.
	if ok != 808 {
		t.Errorf("parsed %d sample events, want 808", ok)
	}
	if v1beta1 < 757 {
		t.Errorf("saw %d v1beta1 events with a timestamp, want at least 757", v1beta1)
	}
}

func FuzzParse(f *testing.F) {
	_, lines := sampleLines(f)
	for _, l := range lines {
		f.Add(l)
	}
	for _, s := range []string{
		"", "\x00", "\xff\xfe\xfd", "[]", "{}", `{"kind":0}`, "null", "1e999", `"\ud800"`,
		`{"auditID":"a","stage":"s"}`, `{"auditID":"\u0000","stage":"\ud800"}`,
		"{\"auditID\":\"a\xff\",\"stage\":\"s\x00\"}", `{"auditID":"a","stage":"s","responseStatus":{"code":-2147483649}}`,
		`{"auditID":"a","stage":"s","stageTimestamp":"0000-01-01T00:00:00Z","requestReceivedTimestamp":"9999-12-31T23:59:59.999999999-23:59"}`,
		`{"AUDITID":"a","Stage":"s","requestobject":null}`,
		`{"auditID":"a","stage":"s","user":{"groups":[null]},"impersonatedUser":{"groups":[null]},"sourceIPs":[null,"10.0.0.9"]}`,
		strings.Repeat("[", 10001), strings.Repeat(`{"a":`, 10001),
		v1Line[:len(v1Line)/2], v1Line[:len(v1Line)-1], v1Line + v1Line,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		orig := bytes.Clone(line)
		var fresh audit.Event
		err := audit.Parse(line, &fresh)
		if !bytes.Equal(line, orig) {
			t.Fatal("Parse modified its input")
		}
		if err != nil {
			var pe *audit.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is %T, want *audit.ParseError", err, err)
			}
			if pe.Reason == "" || len(pe.Reason) > 512 || !utf8.ValidString(pe.Reason) {
				t.Fatalf("bad reason %q", pe.Reason)
			}
			return
		}
		if fresh.AuditID == "" || fresh.Stage == "" {
			t.Fatalf("nil error but AuditID=%q Stage=%q", fresh.AuditID, fresh.Stage)
		}
		// Reusing a dirty Event must give the same result as a fresh one.
		reused := audit.Event{}
		if audit.Parse([]byte(v1Line), &reused) != nil {
			t.Fatal("v1Line does not parse")
		}
		if err := audit.Parse(line, &reused); err != nil {
			t.Fatalf("second Parse failed: %v", err)
		}
		a, _ := json.Marshal(&fresh)
		b, _ := json.Marshal(&reused)
		if !bytes.Equal(a, b) || !reflect.DeepEqual(fresh.Time(), reused.Time()) {
			t.Fatalf("reused Event differs:\n%s\n%s", a, b)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	line := []byte(metadataLine)
	var ev audit.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := audit.Parse(line, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
