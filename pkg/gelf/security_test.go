package gelf

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/audittail/audittail/pkg/audit"
)

func TestUserKind(t *testing.T) {
	sa := []string{"system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated"}
	for _, tt := range []struct {
		user   string
		groups []string
		want   map[string]any // the new user fields; nil values must be absent
	}{
		{"", nil, map[string]any{"_user_kind": "unauthenticated"}},
		{"system:anonymous", []string{"system:unauthenticated"}, map[string]any{"_user_kind": "anonymous"}},
		{"system:anonymous", nil, map[string]any{"_user_kind": "anonymous"}},
		// A front proxy or webhook may put any name in the group.
		{"guest", []string{"system:unauthenticated"}, map[string]any{"_user_kind": "anonymous"}},
		{"system:serviceaccount:kube-system:coredns", sa, map[string]any{"_user_kind": "serviceaccount",
			"_user_serviceaccount_namespace": "kube-system", "_user_serviceaccount_name": "coredns"}},
		// Not of the form SplitUsername accepts: a system user.
		{"system:serviceaccount:kube-system", sa, map[string]any{"_user_kind": "system", "_user_serviceaccount_namespace": nil}},
		{"system:serviceaccount:a:b:c", sa, map[string]any{"_user_kind": "system", "_user_serviceaccount_name": nil}},
		{"system:serviceaccount::b", sa, map[string]any{"_user_kind": "system"}},
		{"system:serviceaccount:a:", sa, map[string]any{"_user_kind": "system"}},
		{"system:node:worker-1", []string{"system:nodes", "system:authenticated"}, map[string]any{"_user_kind": "node", "_user_node_name": "worker-1"}},
		// The Node authorizer also wants the group system:nodes.
		{"system:node:worker-1", []string{"system:authenticated"}, map[string]any{"_user_kind": "system", "_user_node_name": nil}},
		{"system:node:", []string{"system:nodes"}, map[string]any{"_user_kind": "node", "_user_node_name": nil}},
		{"system:kube-scheduler", []string{"system:authenticated"}, map[string]any{"_user_kind": "system"}},
		{"system:apiserver", []string{"system:masters"}, map[string]any{"_user_kind": "system"}},
		{"system:", nil, map[string]any{"_user_kind": "system"}},
		{"system", nil, map[string]any{"_user_kind": "user"}},
		{"kubernetes-admin", []string{"kubeadm:cluster-admins", "system:authenticated"}, map[string]any{"_user_kind": "user"}},
		{"System:anonymous", nil, map[string]any{"_user_kind": "user"}},
		// Escaped or invalid UTF-8: the parts are escaped like every field.
		{"system:serviceaccount:n\"s:a\xffb", sa, map[string]any{"_user_kind": "serviceaccount",
			"_user_serviceaccount_namespace": `n"s`, "_user_serviceaccount_name": "a\uFFFDb"}},
	} {
		e := newTestEncoder(t, testConfig())
		m, _, _ := encodeEvent(t, e, &audit.Event{AuditID: "a", Stage: "S", User: audit.UserInfo{Username: tt.user, Groups: tt.groups}})
		for k, v := range tt.want {
			if got, ok := m.fields[k]; v == nil && ok || v != nil && got != v {
				t.Errorf("%q %v: %s = %v, want %v", tt.user, tt.groups, k, got, v)
			}
		}
	}
}

// TestUserKindCut: a service account name cut to MaxFieldBytes is cut the
// same way in the fields of its parts, and counted.
func TestUserKindCut(t *testing.T) {
	name := strings.Repeat("n", 300)
	ev := audit.Event{AuditID: "a", Stage: "S", User: audit.UserInfo{Username: "system:serviceaccount:ns:" + name}}
	cfg := testConfig()
	cfg.MaxFieldBytes = MinMaxFieldBytes
	cfg.FullMessage = FullMessageNone
	m, out, res := encodeEvent(t, newTestEncoder(t, cfg), &ev)
	if m.str("_user_serviceaccount_name") != name[:MinMaxFieldBytes] || m.str("_user_serviceaccount_namespace") != "ns" {
		t.Errorf("parts %q %q", m.str("_user_serviceaccount_namespace"), m.str("_user_serviceaccount_name"))
	}
	cfg.MaxFieldBytes = MaxMaxFieldBytes
	_, full, _ := encodeEvent(t, newTestEncoder(t, cfg), &ev)
	if !res.Truncated || res.OriginalSize != len(full) {
		t.Errorf("Truncated %v, OriginalSize %d, want %d (cut message %d bytes)", res.Truncated, res.OriginalSize, len(full), len(out))
	}
}

func TestPeerIP(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	for _, tt := range []struct {
		ips          []string
		source, peer any
	}{
		{nil, nil, nil},
		{[]string{"10.0.0.1"}, "10.0.0.1", "10.0.0.1"},
		{[]string{"fe80::1%eth0"}, "fe80::1%eth0", "fe80::1%eth0"},
		// X-Forwarded-For first, the connection's address last.
		{[]string{"203.0.113.7", "198.51.100.2", "10.0.0.5"}, "203.0.113.7", "10.0.0.5"},
		{[]string{"not-an-ip", "10.0.0.1"}, nil, "10.0.0.1"},
		{[]string{"10.0.0.1", "not-an-ip"}, "10.0.0.1", nil},
		{[]string{""}, nil, nil},
	} {
		m, _, _ := encodeEvent(t, e, &audit.Event{AuditID: "a", Stage: "S", SourceIPs: tt.ips})
		if m.fields["_source_ip"] != tt.source || m.fields["_peer_ip"] != tt.peer {
			t.Errorf("%v: _source_ip, _peer_ip = %v, %v; want %v, %v", tt.ips, m.fields["_source_ip"], m.fields["_peer_ip"], tt.source, tt.peer)
		}
	}
	// A single address cut to MaxFieldBytes is cut, and counted, twice.
	ip := "fe80::1%" + strings.Repeat("z", 400)
	cfg := Config{Host: "h", FullMessage: FullMessageNone, MaxFieldBytes: MinMaxFieldBytes}
	m, _, res := encodeEvent(t, newTestEncoder(t, cfg), &audit.Event{AuditID: "a", Stage: "S", SourceIPs: []string{ip}})
	cfg.MaxFieldBytes = MaxMaxFieldBytes
	_, full, _ := encodeEvent(t, newTestEncoder(t, cfg), &audit.Event{AuditID: "a", Stage: "S", SourceIPs: []string{ip}})
	if m.str("_peer_ip") != ip[:MinMaxFieldBytes] || m.str("_source_ip") != m.str("_peer_ip") || res.OriginalSize != len(full) {
		t.Errorf("_peer_ip %d bytes, OriginalSize %d, want %d", len(m.str("_peer_ip")), res.OriginalSize, len(full))
	}
}

func TestImpersonation(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	for _, tt := range []struct {
		user string
		imp  *audit.UserInfo
		want any
	}{
		{"alice", &audit.UserInfo{Username: "system:serviceaccount:kube-system:admin"}, "alice as system:serviceaccount:kube-system:admin"},
		{"", &audit.UserInfo{Username: "bob"}, "<unauthenticated> as bob"},
		{"alice", &audit.UserInfo{Groups: []string{"system:masters"}}, nil},
		{"alice", nil, nil},
	} {
		m, _, _ := encodeEvent(t, e, &audit.Event{AuditID: "a", Stage: "S", User: audit.UserInfo{Username: tt.user}, ImpersonatedUser: tt.imp})
		if m.fields["_impersonation"] != tt.want {
			t.Errorf("%q as %v: _impersonation = %v, want %v", tt.user, tt.imp, m.fields["_impersonation"], tt.want)
		}
	}
}

func TestAuthzAndDeprecation(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	for _, tt := range []struct {
		ann  map[string]string
		want map[string]any
	}{
		{map[string]string{"authorization.k8s.io/decision": "forbid", "authorization.k8s.io/reason": ""},
			map[string]any{"_authz_decision": "forbid", "_annotations_authorization_k8s_io_decision": "forbid", "_deprecated_bool": nil}},
		{map[string]string{"authorization.k8s.io/decision": "al\"low"}, map[string]any{"_authz_decision": `al"low`}},
		{map[string]string{"k8s.io/deprecated": "true", "k8s.io/removed-release": "1.32"},
			map[string]any{"_deprecated_bool": "true", "_removed_release": "1.32", "_annotations_k8s_io_deprecated": "true", "_authz_decision": nil}},
		{map[string]string{"k8s.io/deprecated": "false"}, map[string]any{"_deprecated_bool": nil}},
		{map[string]string{"k8s.io/removed-release": "1.25"}, map[string]any{"_removed_release": "1.25", "_deprecated_bool": nil}},
	} {
		m, _, _ := encodeEvent(t, e, &audit.Event{AuditID: "a", Stage: "S", Annotations: tt.ann})
		for k, v := range tt.want {
			if got, ok := m.fields[k]; v == nil && ok || v != nil && got != v {
				t.Errorf("%v: %s = %v, want %v", tt.ann, k, got, v)
			}
		}
	}
	// Past the maxAnnotations first keys, the decision still has its field.
	ann := map[string]string{"authorization.k8s.io/decision": "forbid"}
	for i := range maxAnnotations {
		ann["a.example.com/"+strings.Repeat("x", i+1)] = "v"
	}
	m, _, _ := encodeEvent(t, e, &audit.Event{AuditID: "a", Stage: "S", Annotations: ann})
	if _, ok := m.fields["_annotations_authorization_k8s_io_decision"]; ok || m.str("_authz_decision") != "forbid" {
		t.Errorf("decision past the cap: %v", m.keys)
	}
}

func TestPodStreamParams(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	ref := func(res, sub, group string) *audit.ObjectReference {
		return &audit.ObjectReference{Resource: res, Subresource: sub, APIGroup: group, Namespace: "ns", Name: "p"}
	}
	const path = "/api/v1/namespaces/ns/pods/p/"
	for _, tt := range []struct {
		ref                      *audit.ObjectReference
		uri                      string
		command, container, port any
	}{
		{ref("pods", "exec", ""), path + "exec?command=sh&command=-c&command=id+%26%26+cat+%2Fetc%2Fshadow&container=app&stdin=true",
			"sh -c id && cat /etc/shadow", "app", nil},
		// The apiserver takes the first value of a string option.
		{ref("pods", "exec", ""), path + "exec?container=a&command=ls&container=b", "ls", "a", nil},
		// Keys are decoded too; a pair with ';' or a bad escape is dropped.
		{ref("pods", "exec", ""), path + "exec?comm%61nd=cat&command=x;y&command=%zz&command=%2fetc%2Fpasswd&command=&container=",
			"cat /etc/passwd ", nil, nil},
		{ref("pods", "exec", ""), path + "exec?command=%E2%82%AC&command=%FF", "€ \uFFFD", nil, nil},
		{ref("pods", "exec", ""), path + "exec", nil, nil, nil},
		{ref("pods", "exec", ""), path + "exec?", nil, nil, nil},
		{ref("pods", "attach", ""), path + "attach?container=c1&command=ignored", nil, "c1", nil},
		{ref("pods", "portforward", ""), path + "portforward?ports=5432&ports=8080,9090", nil, nil, "5432,8080,9090"},
		{ref("pods", "portforward", ""), path + "portforward", nil, nil, nil},
		// Only the core pods resource.
		{ref("pods", "exec", "example.com"), path + "exec?command=ls", nil, nil, nil},
		{ref("pods", "log", ""), path + "log?container=app", nil, nil, nil},
		{ref("pods", "", ""), path + "?command=ls", nil, nil, nil},
		{ref("nodes", "exec", ""), "/api/v1/nodes/n/exec?command=ls", nil, nil, nil},
	} {
		m, _, _ := encodeEvent(t, e, &audit.Event{AuditID: "a", Stage: "S", RequestURI: tt.uri, ObjectRef: tt.ref})
		if m.fields["_requestURI_command"] != tt.command || m.fields["_requestURI_container"] != tt.container || m.fields["_requestURI_ports"] != tt.port {
			t.Errorf("%s %s: command %q container %q ports %q; want %q %q %q", tt.ref.Subresource, tt.uri,
				m.fields["_requestURI_command"], m.fields["_requestURI_container"], m.fields["_requestURI_ports"], tt.command, tt.container, tt.port)
		}
	}
}

// TestPodStreamCommandCut: a command over MaxFieldBytes is cut like any
// long string, and _original_size_int counts what was cut exactly.
func TestPodStreamCommandCut(t *testing.T) {
	arg := strings.Repeat("%E2%82%AC%22x", 2000) + "%FF" + strings.Repeat("%C3%A9", 6000)
	const size = 3 + 2000*5 + 3 + 6000*2 // "sh ", then "€\"x", U+FFFD, "é"
	ev := audit.Event{AuditID: "a", Stage: "S", RequestURI: "/api/v1/namespaces/ns/pods/p/exec?command=sh&command=" + arg,
		ObjectRef: &audit.ObjectReference{Resource: "pods", Subresource: "exec", Namespace: "ns", Name: "p"}}
	cfg := Config{Host: "h", FullMessage: FullMessageNone, MaxMessageBytes: 1 << 20}
	m, _, res := encodeEvent(t, newTestEncoder(t, cfg), &ev)
	cmd := m.str("_requestURI_command")
	if !res.Truncated || len(cmd) > DefaultMaxFieldBytes || len(cmd) < DefaultMaxFieldBytes-utf8.UTFMax || !strings.HasPrefix(cmd, "sh €\"x€\"x") {
		t.Fatalf("Truncated %v, command %d bytes %.30q", res.Truncated, len(cmd), cmd)
	}
	// With room for the command (the request URI is still cut), the
	// message is as large as the first one said it would be uncut.
	cfg.MaxFieldBytes = MaxMaxFieldBytes
	m2, _, res2 := encodeEvent(t, newTestEncoder(t, cfg), &ev)
	if cmd := m2.str("_requestURI_command"); len(cmd) != size || !strings.Contains(cmd, "x\uFFFDé") {
		t.Errorf("uncut command %d bytes, want %d", len(cmd), size)
	}
	if res.OriginalSize != res2.OriginalSize {
		t.Errorf("OriginalSize = %d, want %d", res.OriginalSize, res2.OriginalSize)
	}
}

// FuzzQueryField checks queryField against net/url's decoding of the same
// query (each invalid UTF-8 byte first read as U+FFFD), under any budget: the
// same bytes as writing the reference value with strField, and the same
// count of what was cut.
func FuzzQueryField(f *testing.F) {
	for _, s := range []string{
		"command=ls&command=-la&container=app", "command=%E2%82%AC+x&command=%FF", "comm%61nd=a;b&command=%zz&command=c",
		"command=\xe2%82%AC\xff", "command=" + strings.Repeat("%22%E2%82%AC", 100), "=&&command&command=",
	} {
		f.Add(s, uint16(0), true)
		f.Add(s, uint16(7), false)
	}
	f.Fuzz(func(t *testing.T, q string, sel uint16, all bool) {
		if strings.Count(q, "&") >= 10000 {
			t.Skip("net/url refuses more than 10000 parameters")
		}
		b := budget{val: 8 + int(sel)%300, out: unlimited}
		if sel&1 != 0 {
			b.out = 8 + int(sel>>1)%300
		}
		var clean strings.Builder
		for i := 0; i < len(q); {
			r, size := utf8.DecodeRuneInString(q[i:])
			clean.WriteRune(r) // U+FFFD for an invalid byte
			i += size
		}
		vals, _ := url.ParseQuery(clean.String())
		want := vals["command"]
		if !all && len(want) > 1 {
			want = want[:1]
		}
		e1, e2 := newTestEncoder(t, testConfig()), newTestEncoder(t, testConfig())
		got := e1.queryField(nil, "_f", q, "command", ' ', all, b)
		ref := e2.str(nil, "_f", strings.Join(want, " "), b)
		if string(got) != string(ref) || e1.lost != e2.lost || e1.cut != e2.cut {
			t.Fatalf("query %q budget %+v:\n got %s (lost %d)\nwant %s (lost %d)", q, b, got, e1.lost, ref, e2.lost)
		}
		if len(got) > 0 && !json.Valid(append(append([]byte("{"), got[1:]...), '}')) {
			t.Fatalf("invalid JSON: %s", got)
		}
		if cap(e1.query) > 2*(min(b.val, b.out)+2*utf8.UTFMax)+64 {
			t.Fatalf("kept %d bytes of the value for a budget of %d", cap(e1.query), b.val)
		}
	})
}

// TestCoreFieldsFitMinCap: with every core field at its largest, step 3
// still fits MinMaxMessageBytes (the minimal message is never needed).
func TestCoreFieldsFitMinCap(t *testing.T) {
	q := strings.Repeat(`"`, 2000) // each byte escaped to 2
	ev := &audit.Event{AuditID: q, Stage: q, Verb: q, Level: q, RequestURI: "/api/v1/namespaces/n/pods/p/exec?command=" + strings.Repeat("%22", 2000),
		User:           audit.UserInfo{Username: "system:serviceaccount:" + q + ":" + q},
		SourceIPs:      []string{"fe80::1%" + q},
		ObjectRef:      &audit.ObjectReference{Resource: "pods", Subresource: "exec", Namespace: q, Name: q},
		ResponseStatus: &audit.Status{Code: 101},
		Annotations:    map[string]string{decisionAnnotation: q},
	}
	line, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.Repeat(`"`, maxHostBytes)
	cfg := Config{Host: host, Cluster: strings.Repeat(`"`, maxClusterBytes), Stream: strings.Repeat("t", maxStreamBytes), MaxMessageBytes: MinMaxMessageBytes}
	e := newTestEncoder(t, cfg)
	r := record(line, strings.Repeat(`"`, 3000), 1<<62)
	r.LineTruncated, r.LineSize = true, 1<<62
	out, res := e.Encode(nil, r)
	m := checkMessage(t, e.Config(), r, out, res)
	for _, k := range []string{"_user_kind", "_peer_ip", "_authz_decision", "_requestURI_command", "_line_truncated_bool"} {
		if _, ok := m.fields[k]; !ok {
			t.Errorf("core field %s missing: %v", k, m.keys)
		}
	}
	if slices.Contains(m.keys, "_user_username") || m.str("short_message") == "audit record too large to encode" {
		t.Errorf("not step 3: %v", m.keys)
	}
	if cmd := m.str("_requestURI_command"); cmd != strings.Repeat(`"`, coreFieldBytes/2) {
		t.Errorf("core command %q, want %d quotes (%d escaped bytes)", cmd, coreFieldBytes/2, coreFieldBytes)
	}
	full, _ := json.Marshal(m.str("full_message"))
	t.Logf("message %d bytes, %d without full_message, cap %d", len(out), len(out)-len(`,"full_message":`)-len(full), MinMaxMessageBytes)
}
