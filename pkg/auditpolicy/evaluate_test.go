package auditpolicy

import (
	"strings"
	"testing"

	"github.com/audittail/audittail/pkg/audit"
)

// mustParse parses a policy of the tests.
func mustParse(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return p
}

// policyOf returns a policy document with the given rules (YAML list items,
// indented by two spaces) and top-level lines.
func policyOf(top string, rules ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: audit.k8s.io/v1\nkind: Policy\n")
	b.WriteString(top)
	b.WriteString("rules:\n")
	for _, r := range rules {
		b.WriteString(r)
		b.WriteByte('\n')
	}
	return b.String()
}

// Requests of the tests.
var (
	alice  = Attributes{Authenticated: true, User: "alice", Groups: []string{"dev", "system:authenticated"}}
	anon   = Attributes{Authenticated: true, User: "system:anonymous", Groups: []string{"system:unauthenticated"}}
	nouser Attributes // failed authentication
)

func res(u Attributes, verb, group, resource, sub, ns, name string) Attributes {
	u.Verb, u.ResourceRequest = verb, true
	u.APIGroup, u.Resource, u.Subresource, u.Namespace, u.Name = group, resource, sub, ns, name
	u.Path = "/apis/x"
	return u
}

func nonRes(u Attributes, verb, path string) Attributes {
	u.Verb, u.Path = verb, path
	return u
}

type evalCase struct {
	name  string
	attrs Attributes
	level string // expected Level
	rule  int    // expected Rule
}

func runCases(t *testing.T, doc string, cases []evalCase) {
	t.Helper()
	p := mustParse(t, doc)
	for _, c := range cases {
		r := p.Evaluate(&c.attrs)
		if r.Level != c.level || r.Rule != c.rule {
			t.Errorf("%s: level %s rule %d, want %s rule %d", c.name, r.Level, r.Rule, c.level, c.rule)
		}
	}
}

const (
	none = audit.LevelNone
	meta = audit.LevelMetadata
	req  = audit.LevelRequest
	rr   = audit.LevelRequestResponse
)

func TestResources(t *testing.T) {
	doc := policyOf("",
		`- level: RequestResponse
  resources: [{group: "", resources: ["pods"]}]`,
		`- level: Request
  resources: [{group: "", resources: ["*/scale", "nodes/*"]}]`,
		`- level: Metadata
  resources: [{group: apps, resources: ["*"]}]`,
	)
	runCases(t, doc, []evalCase{
		{"pods matches pods", res(alice, "get", "", "pods", "", "default", "p"), rr, 0},
		{"pods does not match pods/log", res(alice, "get", "", "pods", "log", "default", "p"), none, -1},
		{"*/scale needs a subresource", res(alice, "get", "", "scale", "", "default", "p"), none, -1},
		{"*/scale matches any resource's scale", res(alice, "update", "", "replicationcontrollers", "scale", "default", "p"), req, 1},
		{"*/scale does not match status", res(alice, "update", "", "replicationcontrollers", "status", "default", "p"), none, -1},
		{"nodes/* matches nodes/status", res(alice, "patch", "", "nodes", "status", "", "n"), req, 1},
		{"nodes/* matches plain nodes too", res(alice, "get", "", "nodes", "", "", "n"), req, 1},
		{"nodes/* does not match nodesx", res(alice, "get", "", "nodesx", "", "", "n"), none, -1},
		{"* matches any resource of the group", res(alice, "get", "apps", "deployments", "", "default", "d"), meta, 2},
		{"* matches subresources", res(alice, "get", "apps", "deployments", "scale", "default", "d"), meta, 2},
		{"the group is compared exactly", res(alice, "get", "apps.example.com", "deployments", "", "default", "d"), none, -1},
		{"a group entry needs a resource request", nonRes(alice, "get", "/apis/apps"), none, -1},
	})
}

func TestGroups(t *testing.T) {
	doc := policyOf("",
		`- level: RequestResponse
  resources: [{group: "*", resources: ["deployments"]}]`,
		`- level: Request
  resources: [{resources: ["configmaps"]}]`,
		`- level: Metadata
  resources: [{group: "batch"}]`,
	)
	runCases(t, doc, []evalCase{
		{"group * matches apps", res(alice, "get", "apps", "deployments", "", "default", "d"), rr, 0},
		{"group * matches the core group", res(alice, "get", "", "deployments", "", "default", "d"), rr, 0},
		{"group * matches any group", res(alice, "get", "extensions", "deployments", "", "default", "d"), rr, 0},
		{"an absent group is the core group", res(alice, "get", "", "configmaps", "", "default", "c"), req, 1},
		{"an absent group is the core group only", res(alice, "get", "example.com", "configmaps", "", "default", "c"), none, -1},
		{"an entry without resources matches the whole group", res(alice, "create", "batch", "jobs", "", "default", "j"), meta, 2},
		{"... subresources too", res(alice, "update", "batch", "jobs", "status", "default", "j"), meta, 2},
	})
}

func TestResourceNames(t *testing.T) {
	doc := policyOf("",
		`- level: None
  resources:
  - {group: "", resources: ["configmaps"], resourceNames: ["controller-leader"]}
  - {group: "", resources: ["endpoints"]}`,
		`- level: Request
  resources:
  - {group: "", resources: ["secrets"], resourceNames: ["a"]}
  - {group: "*", resources: ["secrets"], resourceNames: ["b"]}`,
		`- level: Metadata`,
	)
	runCases(t, doc, []evalCase{
		{"a listed name", res(alice, "update", "", "configmaps", "", "kube-system", "controller-leader"), none, 0},
		{"another name", res(alice, "update", "", "configmaps", "", "kube-system", "other"), meta, 2},
		{"no name (list)", res(alice, "list", "", "configmaps", "", "kube-system", ""), meta, 2},
		{"the next entry is tried", res(alice, "get", "", "endpoints", "", "default", "x"), none, 0},
		{"first entry's name", res(alice, "get", "", "secrets", "", "default", "a"), req, 1},
		{"second entry's name", res(alice, "get", "", "secrets", "", "default", "b"), req, 1},
		{"neither name", res(alice, "get", "", "secrets", "", "default", "c"), meta, 2},
	})
}

func TestNamespaces(t *testing.T) {
	doc := policyOf("",
		`- level: RequestResponse
  namespaces: [""]
  resources: [{resources: ["namespaces"]}]`,
		`- level: Request
  namespaces: ["kube-system"]`,
		`- level: None
  namespaces: ["", "default"]`,
		`- level: Metadata`,
	)
	runCases(t, doc, []evalCase{
		{"POST /api/v1/namespaces is cluster-scoped", res(alice, "create", "", "namespaces", "", "", "foo"), rr, 0},
		{"GET /api/v1/namespaces/foo has namespace foo", res(alice, "get", "", "namespaces", "", "foo", "foo"), meta, 3},
		{"only namespaces: a namespaced resource", res(alice, "get", "", "pods", "", "kube-system", "p"), req, 1},
		{"only namespaces: any resource of the namespace", res(alice, "get", "apps", "deployments", "scale", "kube-system", "d"), req, 1},
		{"only namespaces: not a non-resource request", nonRes(alice, "get", "/healthz"), meta, 3},
		{`namespaces [""]: cluster-scoped`, res(alice, "list", "", "nodes", "", "", ""), none, 2},
		{"another namespace", res(alice, "get", "", "pods", "", "other", "p"), meta, 3},
	})
}

func TestNonResourceURLs(t *testing.T) {
	doc := policyOf("",
		`- level: None
  nonResourceURLs: ["/healthz*", "/version"]`,
		`- level: Request
  nonResourceURLs: ["/apis/*"]`,
		`- level: RequestResponse
  verbs: [post]
  nonResourceURLs: ["*"]`,
		`- level: Metadata`,
	)
	runCases(t, doc, []evalCase{
		{"/healthz* matches /healthz", nonRes(alice, "get", "/healthz"), none, 0},
		{"/healthz* matches /healthz/etcd", nonRes(alice, "get", "/healthz/etcd"), none, 0},
		{"/healthz* matches /healthzx (a plain prefix)", nonRes(alice, "get", "/healthzx"), none, 0},
		{"/version is exact", nonRes(alice, "get", "/version"), none, 0},
		{"/version does not match /version/", nonRes(alice, "get", "/version/"), meta, 3},
		{"/apis/* does not match /apis", nonRes(alice, "get", "/apis"), meta, 3},
		{"/apis/* matches /apis/apps/v1", nonRes(alice, "get", "/apis/apps/v1"), req, 1},
		{"* matches any path", nonRes(alice, "post", "/anything"), rr, 2},
		{"* matches the empty path", nonRes(alice, "post", ""), rr, 2},
		{"never a resource request", res(alice, "get", "", "pods", "", "default", "p"), meta, 3},
		{"never a resource request, even with that path", func() Attributes {
			a := res(alice, "get", "", "pods", "", "default", "p")
			a.Path = "/healthz"
			return a
		}(), meta, 3},
	})
}

func TestUsersAndGroups(t *testing.T) {
	doc := policyOf("",
		`- level: None
  userGroups: ["system:authenticated", "system:unauthenticated"]
  nonResourceURLs: ["/healthz*"]`,
		`- level: Request
  users: ["system:anonymous", "alice"]
  verbs: ["get"]`,
		`- level: RequestResponse
  users: ["alice"]
  userGroups: ["dev"]`,
		`- level: Metadata
  nonResourceURLs: ["*"]`,
	)
	runCases(t, doc, []evalCase{
		{"a group of the user", nonRes(alice, "get", "/healthz"), none, 0},
		{"system:anonymous is in system:unauthenticated", nonRes(anon, "get", "/healthz"), none, 0},
		{"no user: userGroups never match", nonRes(nouser, "get", "/healthz"), meta, 3},
		{"no user: users never match", nonRes(nouser, "get", "/version"), meta, 3},
		{"system:anonymous is a user", nonRes(anon, "get", "/version"), req, 1},
		{"users and userGroups both needed", res(alice, "create", "", "pods", "", "default", "p"), rr, 2},
		{"userGroups unmatched", func() Attributes {
			a := res(alice, "create", "", "pods", "", "default", "p")
			a.Groups = []string{"ops"}
			return a
		}(), none, -1},
		{"no user with groups still has no user", func() Attributes {
			a := nonRes(nouser, "get", "/healthz")
			a.Groups = []string{"system:authenticated"}
			return a
		}(), meta, 3},
	})
	// A user without a name (possible for kube-apiserver, not from an
	// event) is still a user.
	p := mustParse(t, policyOf("", `- level: Request
  users: [""]`))
	if r := p.Evaluate(&Attributes{Authenticated: true}); r.Rule != 0 {
		t.Errorf(`users [""] and an authenticated user without a name: rule %d`, r.Rule)
	}
	if r := p.Evaluate(&Attributes{}); r.Rule != -1 {
		t.Errorf(`users [""] and no user: rule %d`, r.Rule)
	}
}

func TestVerbs(t *testing.T) {
	doc := policyOf("",
		`- level: Request
  verbs: ["get", "watch"]`,
		`- level: Metadata
  verbs: ["GET", ""]`,
	)
	runCases(t, doc, []evalCase{
		{"listed verb", res(alice, "get", "", "pods", "", "default", "p"), req, 0},
		{"verbs are case-sensitive", nonRes(alice, "GET", "/x"), meta, 1},
		{"the empty verb", nonRes(alice, "", "/x"), meta, 1},
		{"unlisted verb", res(alice, "list", "", "pods", "", "default", ""), none, -1},
	})
}

func TestNoSelectors(t *testing.T) {
	doc := policyOf("",
		`- level: None
  verbs: ["watch"]`,
		`- level: Request`,
		`- level: RequestResponse`,
	)
	runCases(t, doc, []evalCase{
		{"a resource request", res(alice, "get", "", "pods", "", "default", "p"), req, 1},
		{"a non-resource request", nonRes(alice, "get", "/healthz"), req, 1},
		{"no user", nonRes(nouser, "get", "/api"), req, 1},
		{"the first match wins", res(alice, "watch", "", "pods", "", "default", ""), none, 0},
	})
}

func TestOmitStagesAndManagedFields(t *testing.T) {
	p := mustParse(t, policyOf(`omitStages: [RequestReceived]
omitManagedFields: true
`,
		`- level: Request
  verbs: ["create"]
  omitStages: [ResponseStarted, Panic]
  omitManagedFields: false`,
		`- level: Metadata
  verbs: ["get"]`,
		`- level: None
  verbs: ["delete"]
  omitStages: [RequestReceived]
  omitManagedFields: true`,
	))
	cases := []struct {
		verb   string
		want   Stages
		omitMF bool
		rule   int
	}{
		{"create", RequestReceived | ResponseStarted | Panic, false, 0}, // united; the rule overrides
		{"get", RequestReceived, true, 1},                               // the policy's
		{"delete", RequestReceived, true, 2},
		{"list", RequestReceived, true, -1}, // no rule: the policy's
	}
	for _, c := range cases {
		a := res(alice, c.verb, "", "pods", "", "default", "")
		r := p.Evaluate(&a)
		if r.OmitStages != c.want || r.OmitManagedFields != c.omitMF || r.Rule != c.rule {
			t.Errorf("%s: omitStages [%s] omitManagedFields %v rule %d, want [%s] %v %d", c.verb, r.OmitStages, r.OmitManagedFields, r.Rule, c.want, c.omitMF, c.rule)
		}
	}
	if r := p.Evaluate(&Attributes{Verb: "list"}); r.Level != none {
		t.Errorf("no rule: level %s", r.Level)
	}
	if p.OmitStages() != RequestReceived || !p.OmitManagedFields() {
		t.Errorf("policy: omitStages [%s] omitManagedFields %v", p.OmitStages(), p.OmitManagedFields())
	}

	// A rule may set omitManagedFields when the policy does not.
	q := mustParse(t, policyOf("", `- level: Request
  omitManagedFields: true
  verbs: [patch]`, `- level: Metadata`))
	for verb, want := range map[string]bool{"patch": true, "get": false} {
		a := nonRes(alice, verb, "/")
		if r := q.Evaluate(&a); r.OmitManagedFields != want || r.OmitStages != 0 {
			t.Errorf("%s: omitManagedFields %v omitStages [%s], want %v []", verb, r.OmitManagedFields, r.OmitStages, want)
		}
	}
}

func TestStages(t *testing.T) {
	s := RequestReceived | ResponseComplete
	for _, c := range []struct {
		stage string
		want  bool
	}{
		{"RequestReceived", true}, {"ResponseStarted", false}, {"ResponseComplete", true}, {"Panic", false},
		{"", false}, {"requestreceived", false}, {"Unknown", false},
	} {
		if got := s.Has(c.stage); got != c.want {
			t.Errorf("Has(%q) = %v", c.stage, got)
		}
	}
	if got := s.String(); got != "RequestReceived,ResponseComplete" {
		t.Errorf("String() = %q", got)
	}
	if got := (RequestReceived | ResponseStarted | ResponseComplete | Panic).String(); got != "RequestReceived,ResponseStarted,ResponseComplete,Panic" {
		t.Errorf("String() = %q", got)
	}
	if got := Stages(0).String(); got != "" {
		t.Errorf("String() of none = %q", got)
	}
}

func TestRuleNames(t *testing.T) {
	p := mustParse(t, policyOf("", `- level: None
  verbs: [watch]`, `- level: Metadata`, `- level: RequestResponse`))
	if p.Len() != 3 {
		t.Errorf("Len() = %d", p.Len())
	}
	for i, want := range map[int]string{0: "rules[0] (None)", 1: "rules[1] (Metadata)", 2: "rules[2] (RequestResponse)", -1: "no rule", 3: "no rule"} {
		if got := p.RuleName(i); got != want {
			t.Errorf("RuleName(%d) = %q, want %q", i, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = p.RuleName(1) }); n != 0 {
		t.Errorf("RuleName allocates %v times", n)
	}
}

func TestNilPolicy(t *testing.T) {
	var p *Policy
	r := p.Evaluate(&alice)
	if r.Level != none || r.Rule != -1 || r.OmitStages != 0 || r.OmitManagedFields {
		t.Errorf("nil policy: %+v", r)
	}
	if p.Len() != 0 || p.RuleName(0) != "no rule" || p.OmitStages() != 0 || p.OmitManagedFields() {
		t.Error("nil policy: Len, RuleName, OmitStages or OmitManagedFields")
	}
}

// TestLargeSets checks rules whose lists are long enough to be kept in
// maps.
func TestLargeSets(t *testing.T) {
	var users, names []string
	for i := range 20 {
		users = append(users, "u"+strings.Repeat("x", i))
		names = append(names, "name"+strings.Repeat("x", i)) // not "n": a YAML 1.1 boolean
	}
	doc := policyOf("", `- level: Request
  users: [`+strings.Join(users, ", ")+`]
  resources: [{resources: [pods], resourceNames: [`+strings.Join(names, ", ")+`]}]`)
	p := mustParse(t, doc)
	for i := range 20 {
		a := res(Attributes{Authenticated: true, User: users[i]}, "get", "", "pods", "", "default", names[19-i])
		if r := p.Evaluate(&a); r.Rule != 0 {
			t.Errorf("user %s name %s: rule %d", users[i], names[19-i], r.Rule)
		}
	}
	a := res(Attributes{Authenticated: true, User: "v"}, "get", "", "pods", "", "default", names[0])
	if r := p.Evaluate(&a); r.Rule != -1 {
		t.Errorf("unlisted user: rule %d", r.Rule)
	}
}
