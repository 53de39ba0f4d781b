package auditpolicy

import (
	"reflect"
	"slices"
	"testing"

	"github.com/audittail/audittail/pkg/audit"
)

func parseEvent(t testing.TB, line string) *audit.Event {
	t.Helper()
	ev := &audit.Event{}
	if err := audit.Parse([]byte(line), ev); err != nil {
		t.Fatalf("audit.Parse: %v\n%s", err, line)
	}
	return ev
}

// Lines of the tests.
const (
	resourceLine = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete",` +
		`"requestURI":"/apis/apps/v1/namespaces/default/deployments/web/scale?timeout=32s","verb":"update",` +
		`"user":{"username":"alice","groups":["dev","system:authenticated"]},"impersonatedUser":{"username":"bob","groups":["ops"]},` +
		`"objectRef":{"resource":"deployments","namespace":"default","name":"web","apiGroup":"apps","apiVersion":"v1","subresource":"scale"}}`
	coreLine = `{"level":"Metadata","auditID":"a2","stage":"ResponseComplete","requestURI":"/api/v1/nodes","verb":"list",` +
		`"user":{"username":"system:node:n1","groups":["system:nodes"]},"objectRef":{"resource":"nodes","apiVersion":"v1"}}`
	failedAuthnLine = `{"level":"Metadata","auditID":"a3","stage":"ResponseStarted","requestURI":"/healthz?verbose","verb":"get",` +
		`"user":{},"responseStatus":{"metadata":{},"code":401}}`
	escapedLine = `{"level":"Metadata","auditID":"a4","stage":"ResponseComplete","requestURI":"/logs/a%20b%2Fc?x=%20","verb":"get",` +
		`"user":{"username":"system:anonymous","groups":["system:unauthenticated"]}}`
	badEscapeLine = `{"level":"Metadata","auditID":"a5","stage":"ResponseComplete","requestURI":"/x%zz/y","verb":"get","user":{"username":"u"}}`
)

func TestAttributesOf(t *testing.T) {
	cases := []struct {
		name, line string
		want       Attributes
	}{
		{"resource request", resourceLine, Attributes{
			Authenticated: true, User: "alice", Groups: []string{"dev", "system:authenticated"}, Verb: "update",
			ResourceRequest: true, APIGroup: "apps", Resource: "deployments", Subresource: "scale", Namespace: "default", Name: "web",
			Path: "/apis/apps/v1/namespaces/default/deployments/web/scale",
		}},
		{"core group, cluster-scoped, no name", coreLine, Attributes{
			Authenticated: true, User: "system:node:n1", Groups: []string{"system:nodes"}, Verb: "list",
			ResourceRequest: true, Resource: "nodes", Path: "/api/v1/nodes",
		}},
		{"failed authentication", failedAuthnLine, Attributes{Verb: "get", Path: "/healthz"}},
		{"percent-decoded path", escapedLine, Attributes{
			Authenticated: true, User: "system:anonymous", Groups: []string{"system:unauthenticated"}, Verb: "get", Path: "/logs/a b/c",
		}},
		{"undecodable path kept raw", badEscapeLine, Attributes{Authenticated: true, User: "u", Verb: "get", Path: "/x%zz/y"}},
	}
	for _, c := range cases {
		got := AttributesOf(parseEvent(t, c.line))
		if !slices.Equal(got.Groups, c.want.Groups) {
			t.Errorf("%s: groups %q, want %q", c.name, got.Groups, c.want.Groups)
		}
		got.Groups, c.want.Groups = nil, nil
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

func TestPathOf(t *testing.T) {
	for uri, want := range map[string]string{
		"":                      "",
		"/":                     "/",
		"/api/v1/pods?watch=1":  "/api/v1/pods",
		"/healthz?":             "/healthz",
		"/a%3Fb?c":              "/a?b",
		"/%E2%9C%93":            "/✓",
		"/a+b":                  "/a+b",
		"/a%2":                  "/a%2",
		"/version?x=%zz":        "/version",
		"/apis/apps/v1?x=1?y=2": "/apis/apps/v1",
	} {
		if got := pathOf(uri); got != want {
			t.Errorf("pathOf(%q) = %q, want %q", uri, got, want)
		}
	}
}

// TestNoAllocations checks the guarantees of AttributesOf and Evaluate on a
// resource request under the largest sample policy: no allocation.
func TestNoAllocations(t *testing.T) {
	p, err := Load("testdata/policies/gce-gci-configure-helper-audit-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{resourceLine, coreLine, failedAuthnLine} {
		ev := parseEvent(t, line)
		var a Attributes
		var r Result
		if n := testing.AllocsPerRun(100, func() { a = AttributesOf(ev) }); n != 0 {
			t.Errorf("AttributesOf allocates %v times", n)
		}
		if n := testing.AllocsPerRun(100, func() { r = p.Evaluate(&a) }); n != 0 {
			t.Errorf("Evaluate allocates %v times", n)
		}
		_ = r
	}
}
