package gelf

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/pkg/audit"
)

// metadataLine is a typical Metadata-level v1 event (no bodies).
const metadataLine = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0b8e5c3a-1f2d-4e6b-9c7a-8d5e4f3a2b1c","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/configmaps/kube-proxy","verb":"get","user":{"username":"system:serviceaccount:kube-system:kube-proxy","uid":"5b3c1e2d-7a8f-4b9c-a1d2-e3f4a5b6c7d8","groups":["system:serviceaccounts","system:serviceaccounts:kube-system","system:authenticated"],"extra":{"authentication.kubernetes.io/credential-id":["JTI=1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"],"authentication.kubernetes.io/node-name":["node-1"],"authentication.kubernetes.io/pod-name":["kube-proxy-x7k2p"]}},"sourceIPs":["10.0.0.11"],"userAgent":"kube-proxy/v1.31.2 (linux/amd64) kubernetes/5864a46","objectRef":{"resource":"configmaps","namespace":"kube-system","name":"kube-proxy","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-21T10:00:00.123456Z","stageTimestamp":"2026-11-21T10:00:00.125812Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"kube-proxy/kube-system\" of Role \"kube-proxy\" to ServiceAccount \"kube-proxy/kube-system\""}}`

// encodeEvent encodes ev (marshalled to a line and parsed back, like real input).
func encodeEvent(t *testing.T, e *Encoder, ev *audit.Event) (message, []byte, Result) {
	t.Helper()
	line, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	r := record(line, "test.log", 0)
	if r.ParseErr != nil {
		t.Fatalf("test event does not parse: %v", r.ParseErr)
	}
	out, res := e.Encode(nil, r)
	return checkMessage(t, e.Config(), r, out, res), out, res
}

func TestEncodeMetadataEvent(t *testing.T) {
	e := newTestEncoder(t, Config{Host: "node-1", Stream: "tok-1", Cluster: "gra-prod"})
	r := record([]byte(metadataLine), "audit.log", 0)
	out, res := e.Encode([]byte("prefix"), r)
	if string(out[:6]) != "prefix" {
		t.Fatalf("Encode did not append to dst: %.20s", out)
	}
	m := checkMessage(t, e.Config(), r, out[6:], res)
	want := map[string]any{
		"version":                        "1.1",
		"host":                           "node-1",
		"short_message":                  "get configmaps kube-system/kube-proxy by system:serviceaccount:kube-system:kube-proxy -> 200",
		"timestamp":                      json.Number("1795255200.125812"),
		"level":                          json.Number("6"),
		"_X-OVH-TOKEN":                   "tok-1",
		"_agent":                         "audittail",
		"_cluster":                       "gra-prod",
		"_auditID":                       "0b8e5c3a-1f2d-4e6b-9c7a-8d5e4f3a2b1c",
		"_stage":                         "ResponseComplete",
		"_verb":                          "get",
		"_audit_level":                   "Metadata",
		"_requestURI":                    "/api/v1/namespaces/kube-system/configmaps/kube-proxy",
		"_userAgent":                     "kube-proxy/v1.31.2 (linux/amd64) kubernetes/5864a46",
		"_user_username":                 "system:serviceaccount:kube-system:kube-proxy",
		"_user_uid":                      "5b3c1e2d-7a8f-4b9c-a1d2-e3f4a5b6c7d8",
		"_user_groups":                   "system:serviceaccounts, system:serviceaccounts:kube-system, system:authenticated",
		"_user_kind":                     "serviceaccount",
		"_user_serviceaccount_namespace": "kube-system",
		"_user_serviceaccount_name":      "kube-proxy",
		"_user_extra_authentication_kubernetes_io_credential_id": "JTI=1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
		"_user_extra_authentication_kubernetes_io_node_name":     "node-1",
		"_user_extra_authentication_kubernetes_io_pod_name":      "kube-proxy-x7k2p",
		"_sourceIPs":                                 "10.0.0.11",
		"_source_ip":                                 "10.0.0.11",
		"_peer_ip":                                   "10.0.0.11",
		"_objectRef_resource":                        "configmaps",
		"_objectRef_namespace":                       "kube-system",
		"_objectRef_name":                            "kube-proxy",
		"_objectRef_apiVersion":                      "v1",
		"_responseStatus_code_int":                   json.Number("200"),
		"_requestReceivedTimestamp_date":             "2026-11-21T10:00:00.123Z",
		"_stageTimestamp_date":                       "2026-11-21T10:00:00.125Z",
		"_latency_ms_num":                            json.Number("2.356"),
		"_annotations_authorization_k8s_io_decision": "allow",
		"_annotations_authorization_k8s_io_reason":   `RBAC: allowed by RoleBinding "kube-proxy/kube-system" of Role "kube-proxy" to ServiceAccount "kube-proxy/kube-system"`,
		"_authz_decision":                            "allow",
		"full_message":                               metadataLine,
	}
	for k, v := range want {
		if m.fields[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m.fields[k], v)
		}
	}
	for _, k := range m.keys {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected field %s = %v", k, m.fields[k])
		}
	}
	if res.Truncated {
		t.Errorf("Truncated")
	}
}

func TestShortMessageAndLevel(t *testing.T) {
	ref := func(res, sub, ns, name string) *audit.ObjectReference {
		return &audit.ObjectReference{Resource: res, Subresource: sub, Namespace: ns, Name: name}
	}
	status := func(code int32) *audit.Status { return &audit.Status{Code: code} }
	tests := []struct {
		name  string
		ev    audit.Event
		short string
		level int
	}{
		{"delete exec denied", audit.Event{Verb: "delete", ObjectRef: ref("pods", "exec", "kube-system", "etcd-0"),
			User: audit.UserInfo{Username: "alice"}, ResponseStatus: status(403), Stage: "ResponseComplete"},
			"delete pods/exec kube-system/etcd-0 by alice -> 403", 4},
		{"impersonation", audit.Event{Verb: "list", ObjectRef: ref("pods", "", "default", ""),
			User: audit.UserInfo{Username: "system:admin"}, ImpersonatedUser: &audit.UserInfo{Username: "bob"},
			ResponseStatus: status(200), Stage: "ResponseComplete"},
			"list pods in namespace default by system:admin as bob -> 200", 6},
		{"cluster-scoped create", audit.Event{Verb: "create", ObjectRef: ref("clusterroles", "", "", "admin"),
			User: audit.UserInfo{Username: "alice"}, ResponseStatus: status(201), Stage: "ResponseComplete"},
			"create clusterroles admin by alice -> 201", 5},
		{"namespace", audit.Event{Verb: "delete", ObjectRef: ref("namespaces", "", "foo", "foo"),
			User: audit.UserInfo{Username: "alice"}, ResponseStatus: status(200), Stage: "ResponseComplete"},
			"delete namespaces foo by alice -> 200", 5},
		{"cluster-wide list", audit.Event{Verb: "watch", ObjectRef: ref("nodes", "", "", ""),
			User: audit.UserInfo{Username: "kubelet"}, ResponseStatus: status(200), Stage: "ResponseStarted"},
			"watch nodes by kubelet -> 200", 6},
		{"non-resource unauthenticated", audit.Event{Verb: "get", RequestURI: "/version",
			ResponseStatus: status(401), Stage: "ResponseStarted"},
			"get /version by <unauthenticated> -> 401", 4},
		{"request received", audit.Event{Verb: "patch", ObjectRef: ref("deployments", "scale", "web", "api"),
			User: audit.UserInfo{Username: "hpa"}, Stage: "RequestReceived"},
			"patch deployments/scale web/api by hpa", 6},
		{"panic", audit.Event{Verb: "get", ObjectRef: ref("pods", "", "a", "b"),
			User: audit.UserInfo{Username: "u"}, ResponseStatus: status(500), Stage: "Panic"},
			"get pods a/b by u -> 500", 2},
		{"server error", audit.Event{Verb: "update", ObjectRef: ref("secrets", "", "a", "b"),
			User: audit.UserInfo{Username: "u"}, ResponseStatus: status(503), Stage: "ResponseComplete"},
			"update secrets a/b by u -> 503", 3},
		{"not found", audit.Event{Verb: "get", ObjectRef: ref("secrets", "", "a", "b"),
			User: audit.UserInfo{Username: "u"}, ResponseStatus: status(404), Stage: "ResponseComplete"},
			"get secrets a/b by u -> 404", 5},
		{"conflict on write", audit.Event{Verb: "update", ObjectRef: ref("configmaps", "", "a", "b"),
			User: audit.UserInfo{Username: "u"}, ResponseStatus: status(409), Stage: "ResponseComplete"},
			"update configmaps a/b by u -> 409", 5},
		{"exec upgrade", audit.Event{Verb: "create", ObjectRef: ref("pods", "exec", "a", "b"),
			User: audit.UserInfo{Username: "u"}, ResponseStatus: status(101), Stage: "ResponseStarted"},
			"create pods/exec a/b by u -> 101", 5},
		{"deletecollection", audit.Event{Verb: "deletecollection", ObjectRef: ref("pods", "", "a", ""),
			User: audit.UserInfo{Username: "u"}, ResponseStatus: status(200), Stage: "ResponseComplete"},
			"deletecollection pods in namespace a by u -> 200", 5},
		{"nothing but ids", audit.Event{Stage: "ResponseComplete"}, "by <unauthenticated>", 6},
		{"objectRef without resource", audit.Event{Verb: "get", ObjectRef: &audit.ObjectReference{Name: "x"},
			RequestURI: "/apis", User: audit.UserInfo{Username: "u"}, Stage: "ResponseComplete"},
			"get /apis by u", 6},
		{"long parts", audit.Event{Verb: "get", ObjectRef: ref("pods", "", "ns", strings.Repeat("n", 300)),
			User: audit.UserInfo{Username: strings.Repeat("é", 100)}, ResponseStatus: status(200), Stage: "ResponseComplete"},
			"get pods ns/" + strings.Repeat("n", 128) + "... by " + strings.Repeat("é", 64) + "... -> 200", 6},
		{"long URI", audit.Event{Verb: "get", RequestURI: "/" + strings.Repeat("u", 400),
			User: audit.UserInfo{Username: "u"}, Stage: "ResponseComplete"},
			"get /" + strings.Repeat("u", 255) + "... by u", 6},
	}
	e := newTestEncoder(t, testConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			ev.AuditID = "id-1"
			if ev.Stage == "" {
				ev.Stage = "ResponseComplete"
			}
			m, _, _ := encodeEvent(t, e, &ev)
			if got := m.str("short_message"); got != tt.short {
				t.Errorf("short_message = %q\n                want %q", got, tt.short)
			}
			if got := m.fields["level"]; got != json.Number(fmt.Sprint(tt.level)) {
				t.Errorf("level = %v, want %d", got, tt.level)
			}
		})
	}
}

func TestBlank(t *testing.T) {
	for s, want := range map[string]bool{
		"": true, " \t\n\r\x00\x7f": true, "\u00a0\u2028\u3000": true,
		"a": false, " . ": false, "\xff": false, "é": false,
	} {
		if got := blank([]byte(s)); got != want {
			t.Errorf("blank(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestTimestamps(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	recv := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	tests := []struct {
		name string
		ev   audit.Event
		ts   string
		lat  any
	}{
		{"stage wins", audit.Event{RequestReceivedTimestamp: recv, StageTimestamp: recv.Add(1500 * time.Microsecond)},
			"1767323045.124956", json.Number("1.500")},
		{"received only", audit.Event{RequestReceivedTimestamp: recv}, "1767323045.123456", nil},
		{"stage before received: no latency", audit.Event{RequestReceivedTimestamp: recv, StageTimestamp: recv.Add(-time.Second)},
			"1767323044.123456", nil},
		{"v1beta1 timestamp", audit.Event{Timestamp: recv.Truncate(time.Second)}, "1767323045.000000", nil},
		{"none: clock", audit.Event{}, "1795262400.000000", nil},
		{"before 1970", audit.Event{StageTimestamp: time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC)}, "-0.500000", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			ev.AuditID, ev.Stage = "a", "ResponseComplete"
			m, _, _ := encodeEvent(t, e, &ev)
			if got := m.fields["timestamp"]; got != json.Number(tt.ts) {
				t.Errorf("timestamp = %v, want %s", got, tt.ts)
			}
			if got := m.fields["_latency_ms_num"]; got != tt.lat {
				t.Errorf("_latency_ms_num = %v, want %v", got, tt.lat)
			}
		})
	}
}

func TestDynamicNames(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	ann := map[string]string{
		"authorization.k8s.io/decision":             "allow",
		"apiserver.latency.k8s.io/total":            "1.2s",
		"pod-security.kubernetes.io/enforce-policy": "privileged:latest",
		"a.b":                   "1",
		"a/b":                   "2",
		"a_b":                   "3",
		"a__b_":                 "4",
		"example.com/count_int": "12 apples",
		"example.com/ok_bool":   "maybe",
		"x_ip":                  "not an ip",
		"x_Int":                 "case matters",
		"__":                    "empty key part",
		"ünïcode/kéy":           "u",
		"webhook.example.com/" + strings.Repeat("k", 200): "long key",
		"empty-value": "",
	}
	m, _, res := encodeEvent(t, e, &audit.Event{AuditID: "a", Stage: "ResponseComplete", Annotations: ann,
		User: audit.UserInfo{Username: "u", Extra: map[string][]string{"scopes.example.com/list": {"a", "b", "c"}, "k-v": {""}}}})
	if res.Truncated {
		t.Fatal("Truncated")
	}
	want := map[string]string{
		"_annotations_authorization_k8s_io_decision":             "allow",
		"_annotations_apiserver_latency_k8s_io_total":            "1.2s",
		"_annotations_pod_security_kubernetes_io_enforce_policy": "privileged:latest",
		"_annotations_a_b":                       "1",
		"_annotations_a_b_2":                     "2",
		"_annotations_a_b_3":                     "4",
		"_annotations_a_b_4":                     "3",
		"_annotations_example_com_count_int_str": "12 apples",
		"_annotations_example_com_ok_bool_str":   "maybe",
		"_annotations_x_ip_str":                  "not an ip",
		"_annotations_x_Int":                     "case matters",
		"_annotations":                           "empty key part",
		"_annotations_n_code_k_y":                "u",
		"_annotations_webhook_example_com_" + strings.Repeat("k", maxKeyName-len("webhook_example_com_")): "long key",
		"_user_extra_scopes_example_com_list": "a, b, c",
	}
	var got []string
	for _, k := range m.keys {
		if strings.HasPrefix(k, "_annotations") || strings.HasPrefix(k, "_user_extra") {
			got = append(got, k)
			if m.fields[k] != want[k] {
				t.Errorf("%s = %v, want %q", k, m.fields[k], want[k])
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("dynamic fields %v, want %d of them", got, len(want))
	}
}

func TestMapFanOutCap(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	ann := map[string]string{}
	extra := map[string][]string{}
	for i := range 100 {
		ann[fmt.Sprintf("k%03d", i)] = "v"
		extra[fmt.Sprintf("e%03d", i)] = []string{"v"}
	}
	m, out, res := encodeEvent(t, e, &audit.Event{AuditID: "a", Stage: "S", Annotations: ann, User: audit.UserInfo{Extra: extra}})
	var a, x []string
	for _, k := range m.keys {
		if strings.HasPrefix(k, "_annotations_") {
			a = append(a, k)
		}
		if strings.HasPrefix(k, "_user_extra_") {
			x = append(x, k)
		}
	}
	if len(a) != maxAnnotations || a[0] != "_annotations_k000" || a[31] != "_annotations_k031" {
		t.Errorf("annotations %v, want k000..k031", a)
	}
	if len(x) != maxExtra || x[0] != "_user_extra_e000" || x[15] != "_user_extra_e015" {
		t.Errorf("extra %v, want e000..e015", x)
	}
	if !res.Truncated {
		t.Errorf("dropped keys not reported as truncation")
	}
	// Dropped: 68 annotations `,"_annotations_kNNN":"v"` (24 bytes) and 84 extra
	// `,"_user_extra_eNNN":"v"` (23 bytes); the trailer is not part of the original.
	trailer := len(trailerPrefix) + len(fmt.Sprint(res.OriginalSize)) + 1
	if want := len(out) - trailer + 1 + 68*24 + 84*23; res.OriginalSize != want {
		t.Errorf("OriginalSize = %d, want %d", res.OriginalSize, want)
	}
}

func TestSourceIP(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	for _, tt := range []struct {
		ips  []string
		want any
	}{
		{[]string{"2001:db8::1", "10.0.0.1"}, "2001:db8::1"},
		{[]string{"not-an-ip", "10.0.0.1"}, nil},
		{[]string{""}, nil},
	} {
		m, _, _ := encodeEvent(t, e, &audit.Event{AuditID: "a", Stage: "S", SourceIPs: tt.ips})
		if m.fields["_source_ip"] != tt.want {
			t.Errorf("%v: _source_ip = %v, want %v", tt.ips, m.fields["_source_ip"], tt.want)
		}
	}
}

func TestFullMessageNone(t *testing.T) {
	e := newTestEncoder(t, Config{Host: "h", FullMessage: FullMessageNone})
	m, _, _ := encodeEvent(t, e, &audit.Event{AuditID: "a", Stage: "S"})
	if _, ok := m.fields["full_message"]; ok {
		t.Error("full_message sent in mode none")
	}
	// Unparsable lines keep their bytes in every mode.
	r := record([]byte(`{"kind":"Foo"}`), "f", 0)
	out, res := e.Encode(nil, r)
	m = checkMessage(t, e.Config(), r, out, res)
	if m.fields["full_message"] != `{"kind":"Foo"}` {
		t.Errorf("full_message = %v", m.fields["full_message"])
	}
}

func TestFlaggedRecords(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	valid := []byte(`{"auditID":"a","stage":"ResponseComplete","verb":"get"}`)
	tests := []struct {
		name   string
		rec    Record
		short  string
		fields map[string]any
		absent []string
	}{
		{
			name:  "unparsable",
			rec:   Record{Line: []byte("{\"auditID\":\"a\"\x00"), Source: "/var/log/audit.log", Offset: 4096},
			short: `unparsable audit line: invalid JSON at byte 15: invalid character '\x00' after object key:value pair`,
			fields: map[string]any{"_parse_error": `invalid JSON at byte 15: invalid character '\x00' after object key:value pair`,
				"_source_file": "/var/log/audit.log", "_source_offset_int": json.Number("4096"), "level": json.Number("4"),
				"timestamp": json.Number("1795262400.000000"), "full_message": "{\"auditID\":\"a\"\x00"},
			absent: []string{"_partial_bool", "_line_truncated_bool", "_auditID"},
		},
		{
			name:   "invalid UTF-8 is replaced",
			rec:    Record{Line: []byte("\xff\xfe not json"), Source: "f"},
			short:  "unparsable audit line: not a JSON object",
			fields: map[string]any{"full_message": "\uFFFD\uFFFD not json", "_source_offset_int": json.Number("0")},
		},
		{
			name:   "partial fragment",
			rec:    Record{Line: []byte(`{"auditID":"a","sta`), Source: "audit-2026-11-21T10-00-00.000.log", Offset: 99, Partial: true},
			short:  "partial audit line at end of rotated file",
			fields: map[string]any{"_partial_bool": "true", "_parse_error": "invalid JSON at byte 19: unexpected end of JSON input", "_source_offset_int": json.Number("99")},
			absent: []string{"_line_truncated_bool"},
		},
		{
			name:  "line cut by the reader",
			rec:   Record{Line: []byte(`{"auditID":"a","stage":"ResponseComplete","requestObject":{"x":"yyyy`), Source: "a.log", Offset: 7, LineTruncated: true, LineSize: 5 << 20},
			short: "audit line too long: 5242880 bytes, cut at 68",
			fields: map[string]any{"_line_truncated_bool": "true", "_line_size_int": json.Number("5242880"),
				"_parse_error": "invalid JSON at byte 68: unexpected end of JSON input"},
		},
		{
			name:   "valid event flagged partial keeps the event mapping",
			rec:    Record{Line: valid, Source: "old.log", Offset: 10, Partial: true},
			short:  "get by <unauthenticated>",
			fields: map[string]any{"_partial_bool": "true", "_auditID": "a", "_source_file": "old.log", "level": json.Number("6")},
			absent: []string{"_parse_error"},
		},
		{
			name:   "valid event flagged truncated",
			rec:    Record{Line: valid, Source: "a.log", LineTruncated: true, LineSize: 10},
			short:  "get by <unauthenticated>",
			fields: map[string]any{"_line_truncated_bool": "true", "_line_size_int": json.Number(fmt.Sprint(len(valid))), "_auditID": "a"},
		},
		{
			name:   "record without event nor error",
			rec:    Record{Line: valid},
			short:  "unparsable audit line: record has no event",
			fields: map[string]any{"_parse_error": "record has no event"},
		},
		{
			name:   "foreign error",
			rec:    Record{Line: []byte("x"), ParseErr: errors.New("read: I/O error")},
			short:  "unparsable audit line: read: I/O error",
			fields: map[string]any{"_parse_error": "read: I/O error"},
		},
		{
			name:   "empty line",
			rec:    Record{Line: nil, Offset: 3},
			short:  "unparsable audit line: empty line",
			absent: []string{"full_message"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rec
			if r.ParseErr == nil && tt.name != "record without event nor error" {
				var ev audit.Event
				if err := audit.Parse(r.Line, &ev); err != nil {
					r.ParseErr = err
				} else {
					r.Event = &ev
				}
			}
			out, res := e.Encode(nil, &r)
			m := checkMessage(t, e.Config(), &r, out, res)
			if got := m.str("short_message"); got != tt.short {
				t.Errorf("short_message = %q\n                want %q", got, tt.short)
			}
			for k, v := range tt.fields {
				if m.fields[k] != v {
					t.Errorf("%s = %#v, want %#v", k, m.fields[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := m.fields[k]; ok {
					t.Errorf("unexpected %s = %v", k, m.fields[k])
				}
			}
		})
	}
}

func TestEscaping(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	user := "a\"b\\c\n\t\x01<>&\u2028é\U0001F600"
	m, out, _ := encodeEvent(t, e, &audit.Event{AuditID: "a", Stage: "S", User: audit.UserInfo{Username: user}})
	if m.fields["_user_username"] != user {
		t.Errorf("_user_username = %q, want %q", m.fields["_user_username"], user)
	}
	if !strings.Contains(string(out), `"_user_username":"a\"b\\c\n\t\u0001<>&`+"\u2028é\U0001F600"+`"`) {
		t.Errorf("unexpected escaping in %s", out)
	}
}

// TestEncodeZeroAllocs pins the steady-state goal: encoding a parsed Metadata
// event into a reused buffer does not allocate.
func TestEncodeZeroAllocs(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	r := record([]byte(metadataLine), "audit.log", 0)
	buf, _ := e.Encode(nil, r)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = e.Encode(buf[:0], r)
	})
	if allocs != 0 {
		t.Errorf("Encode allocates %.1f times per Metadata event, want 0", allocs)
	}
}

func TestZeroEncoder(t *testing.T) {
	var e Encoder
	r := record([]byte(metadataLine), "audit.log", 0)
	out, res := e.Encode(nil, r)
	cfg := e.Config()
	if cfg.MaxMessageBytes != DefaultMaxMessageBytes || cfg.Host == "" {
		t.Fatalf("zero Encoder config not defaulted: %v", cfg)
	}
	checkMessage(t, cfg, r, out, res)
}

func TestNewEncoderHost(t *testing.T) {
	e, err := NewEncoder(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := os.Hostname(); e.Host() != h || e.Config().Host != h {
		t.Errorf("Host() = %q, Config().Host = %q, want os.Hostname %q", e.Host(), e.Config().Host, h)
	}
	for _, h := range []string{"a\nb", "   ", strings.Repeat("h", 256), "\xff"} {
		if _, err := NewEncoder(Config{Host: h}); err == nil || !strings.Contains(err.Error(), "gelf.host") {
			t.Errorf("NewEncoder with host %q: err = %v", h, err)
		}
	}
}

func TestConfig(t *testing.T) {
	var c Config
	c.SetDefaults()
	if c.FullMessage != FullMessageRaw || c.MaxMessageBytes != 262144 || c.MaxFieldBytes != 16384 || c.Host != "" {
		t.Errorf("defaults: %v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaulted config invalid: %v", err)
	}
	set := Config{FullMessage: FullMessageNone, MaxMessageBytes: 5000, MaxFieldBytes: 300}
	set.SetDefaults()
	if set.FullMessage != FullMessageNone || set.MaxMessageBytes != 5000 || set.MaxFieldBytes != 300 {
		t.Errorf("SetDefaults overwrote set values: %v", set)
	}

	const secret = "s3cr3t-t0ken with space"
	bad := Config{MaxMessageBytes: 4095, MaxFieldBytes: 40000, FullMessage: "full", Host: "h\x00", Cluster: strings.Repeat("c", 256), Stream: secret}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{
		"gelf.max_message_bytes: 4095 is below the minimum 4096",
		"gelf.max_field_bytes: 40000 is outside [256, 32766]",
		`gelf.full_message: invalid value "full": want one of raw, none`,
		`gelf.host: control character '\x00' not allowed`,
		"gelf.cluster: 256 bytes, want at most 255",
		"gelf.stream: must be at most 128 printable ASCII characters",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("Validate error leaks the token: %v", err)
	}
	for _, s := range []string{fmt.Sprint(bad), fmt.Sprintf("%+v", bad), fmt.Sprintf("%#v", bad), bad.String()} {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("formatted Config leaks the token: %s", s)
		}
	}
	if err := (Config{Stream: "0f3a9b1c-aaaa-bbbb-cccc-0123456789ab", MaxMessageBytes: 4096, MaxFieldBytes: 256, FullMessage: "raw"}).Validate(); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
}

func TestFullMessageModeUnmarshalText(t *testing.T) {
	for _, ok := range []string{"raw", "none", ""} {
		var m FullMessageMode
		if err := m.UnmarshalText([]byte(ok)); err != nil || string(m) != ok {
			t.Errorf("UnmarshalText(%q) = %v, %q", ok, err, m)
		}
	}
	var m FullMessageMode
	err := m.UnmarshalText([]byte("RAW"))
	if err == nil || err.Error() != `invalid full_message "RAW": want one of raw, none` {
		t.Errorf("UnmarshalText(RAW) error = %v", err)
	}
}

func TestStripBodies(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":1,"requestObject":{"x":[1,{"y":"}"}]},"b":"c"}`, `{"a":1,"b":"c"}`},
		{` { "requestObject" : {} , "responseObject":[] } `, `{}`},
		{`{"responseObject":"s\"}","a":true}`, `{"a":true}`},
		{`{"a" : null ,"RequestObject":1,"c":{"requestObject":2}}`, `{"a" : null,"c":{"requestObject":2}}`},
		{`{"request\u004fbject":1,"re\u0073ponseObject":2,"b":3}`, `{"b":3}`},
		{"{\"re\u017fponseObject\":1,\"b\":3}", `{"b":3}`}, // ſ folds to s, as in encoding/json
		{`{}`, `{}`},
	}
	for _, tt := range tests {
		got, ok := stripBodies([]byte("x"), []byte(tt.in), unlimited)
		if !ok || string(got) != "x"+tt.want {
			t.Errorf("stripBodies(%s) = %s, %v; want x%s", tt.in, got, ok, tt.want)
		}
	}
	for _, in := range []string{``, `[]`, `{`, `{"a"}`, `{"a":`, `{"a":1`, `{"a":1 "b":2}`, `{"a":"x`, `{"a":[1,2}`, `{1:2}`} {
		if got, ok := stripBodies([]byte("x"), []byte(in), unlimited); ok || string(got) != "x" {
			t.Errorf("stripBodies(%q) = %q, %v; want failure and dst unchanged", in, got, ok)
		}
	}
	// Every sample with a body strips to an event that still parses to the same
	// metadata and has no body left.
	for _, c := range goldenCases(t) {
		for _, r := range fileRecords(t, c.path, c.source) {
			if r.Event == nil || len(r.Event.RequestObject)+len(r.Event.ResponseObject) == 0 {
				continue
			}
			got, ok := stripBodies(nil, r.Line, unlimited)
			var ev audit.Event
			if !ok || audit.Parse(got, &ev) != nil {
				t.Fatalf("%s: stripped line does not parse: %s", c.source, got)
			}
			if len(ev.RequestObject)+len(ev.ResponseObject) != 0 || ev.AuditID != r.Event.AuditID ||
				!slices.Equal(ev.User.Groups, r.Event.User.Groups) || ev.StageTimestamp != r.Event.StageTimestamp {
				t.Fatalf("%s: stripped event differs: %+v", c.source, ev)
			}
		}
	}
}

// TestSetStream: a new token applies to the next message, is validated
// without echoing it, and can be set while another goroutine encodes.
func TestSetStream(t *testing.T) {
	e := newTestEncoder(t, Config{Host: "node-1", Stream: "old-token"})
	r := record([]byte(metadataLine), "audit.log", 0)
	token := func() any {
		out, _ := e.Encode(nil, r)
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		return m["_X-OVH-TOKEN"]
	}
	if got := token(); got != "old-token" {
		t.Fatalf("token %v, want old-token", got)
	}
	if err := e.SetStream("new-token"); err != nil {
		t.Fatal(err)
	}
	if got := token(); got != "new-token" || e.Stream() != "new-token" {
		t.Fatalf("after SetStream: token %v, Stream() %q", got, e.Stream())
	}
	if err := e.SetStream("bad token\"secret"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("SetStream with an invalid token: %v (must fail without showing it)", err)
	}
	if got := token(); got != "new-token" {
		t.Fatalf("a rejected token replaced the current one: %v", got)
	}
	if err := e.SetStream(""); err != nil {
		t.Fatal(err)
	}
	if got := token(); got != nil {
		t.Fatalf("empty token still sent: %v", got)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			_ = e.SetStream(fmt.Sprintf("tok-%d", i))
		}
	}()
	for range 200 {
		out, _ := e.Encode(nil, r)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON while the token changes: %s", out)
		}
	}
	<-done
}

func TestTestMessage(t *testing.T) {
	e := newTestEncoder(t, Config{Host: "cp-1", Stream: "tok", Cluster: "prod \"gra\""})
	out := e.TestMessage(nil, "abc123", time.Date(2026, 11, 21, 10, 0, 0, 250e6, time.UTC))
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, out)
	}
	want := map[string]any{
		"version": "1.1", "host": "cp-1", "short_message": "audittail check: test message from cp-1 (not an audit event)",
		"timestamp": 1795255200.25, "level": float64(6), "_X-OVH-TOKEN": "tok", "_agent": "audittail",
		"_cluster": `prod "gra"`, "_check_id": "abc123",
	}
	if len(m) != len(want) {
		t.Errorf("fields %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}
