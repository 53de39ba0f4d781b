package k8sdiff

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit"
	k8saudit "k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/klog/v2"

	"github.com/audittail/audittail/internal/auditgen"
	"github.com/audittail/audittail/pkg/audit"
	"github.com/audittail/audittail/pkg/auditpolicy"
)

// Where the test data of the repository is, from this directory.
const (
	repoRoot       = "../.."
	samplePolicies = repoRoot + "/pkg/auditpolicy/testdata/policies"
	sampleLog      = repoRoot + "/examples/sample-audit.log"
	auditSamples   = repoRoot + "/pkg/audit/testdata/samples"
)

// Generated events: how many, and the seed.
const (
	generatedEvents = 20000
	generatedSeed   = 20261121
)

func TestMain(m *testing.M) {
	// LoadPolicyFromBytes logs a warning for each lenient fallback (the
	// policies of testdata/lenient): keep the test output clean.
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	_ = klogFlags.Set("logtostderr", "false")
	_ = klogFlags.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// pair is one policy loaded by both sides.
type pair struct {
	file   string // path of the policy
	name   string // its base name
	ours   *auditpolicy.Policy
	theirs k8saudit.PolicyRuleEvaluator
}

// policyFiles returns the policies both sides must accept: the samples of
// pkg/auditpolicy and the edge cases of testdata/edge.
func policyFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{samplePolicies + "/*.yaml", "testdata/edge/*.yaml", "testdata/edge/*.json"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 4+15 {
		t.Fatalf("found only %d policies: %v", len(files), files)
	}
	return files
}

// loadPairs loads every policy of policyFiles with both loaders.
func loadPairs(t testing.TB) []pair {
	t.Helper()
	var pairs []pair
	for _, f := range policyFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := loadBoth(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		p.file, p.name = f, filepath.Base(f)
		pairs = append(pairs, p)
	}
	return pairs
}

// loadBoth loads a policy with audittail's Parse and kube-apiserver's
// LoadPolicyFromBytes; it fails when either refuses it.
func loadBoth(data []byte) (pair, error) {
	ours, oerr := auditpolicy.Parse(data)
	theirs, terr := policy.LoadPolicyFromBytes(data)
	if oerr != nil || terr != nil {
		return pair{}, fmt.Errorf("audittail: %v; kube-apiserver: %v", oerr, terr)
	}
	return pair{ours: ours, theirs: policy.NewPolicyRuleEvaluator(theirs)}, nil
}

// k8sAttributes builds kube-apiserver's attributes of the request ev
// records, independently of auditpolicy.AttributesOf: the user is nil when
// authentication failed (empty user name), the path is what net/http
// decodes from the request URI.
func k8sAttributes(ev *audit.Event) authorizer.AttributesRecord {
	a := authorizer.AttributesRecord{Verb: ev.Verb, Path: requestPath(ev.RequestURI)}
	if ev.User.Username != "" {
		a.User = &user.DefaultInfo{Name: ev.User.Username, UID: ev.User.UID, Groups: ev.User.Groups, Extra: ev.User.Extra}
	}
	if ref := ev.ObjectRef; ref != nil {
		a.ResourceRequest = true
		a.APIGroup = ref.APIGroup
		a.APIVersion = ref.APIVersion
		a.Resource = ref.Resource
		a.Subresource = ref.Subresource
		a.Namespace = ref.Namespace
		a.Name = ref.Name
	}
	return a
}

// requestPath is URL.Path as net/http parses the request URI (the event's
// requestURI is kube-apiserver's req.URL.RequestURI()); a URI that does not
// parse keeps its raw path.
func requestPath(uri string) string {
	if u, err := url.ParseRequestURI(uri); err == nil {
		return u.Path
	}
	path, _, _ := strings.Cut(uri, "?")
	return path
}

// agree compares both evaluators on one request and describes the
// difference, "" when they agree.
func agree(p pair, ours *auditpolicy.Attributes, theirs authorizer.Attributes) string {
	o := p.ours.Evaluate(ours)
	k := p.theirs.EvaluatePolicyRule(theirs)
	var diffs []string
	if o.Level != string(k.Level) {
		diffs = append(diffs, fmt.Sprintf("level %s, kube-apiserver %s", o.Level, k.Level))
	}
	if !sameStages(o.OmitStages, k.OmitStages) {
		diffs = append(diffs, fmt.Sprintf("omitStages [%s], kube-apiserver %v", o.OmitStages, k.OmitStages))
	}
	if o.OmitManagedFields != k.OmitManagedFields {
		diffs = append(diffs, fmt.Sprintf("omitManagedFields %v, kube-apiserver %v", o.OmitManagedFields, k.OmitManagedFields))
	}
	if o.Rule < -1 || o.Rule >= p.ours.Len() || o.Rule == -1 && o.Level != audit.LevelNone {
		diffs = append(diffs, fmt.Sprintf("rule index %d of %d rules, level %s", o.Rule, p.ours.Len(), o.Level))
	}
	return strings.Join(diffs, "; ")
}

// sameStages compares audittail's set with kube-apiserver's list as sets.
func sameStages(o auditpolicy.Stages, k []auditv1.Stage) bool {
	for _, s := range k {
		if !o.Has(string(s)) {
			return false
		}
	}
	for _, s := range []auditv1.Stage{auditv1.StageRequestReceived, auditv1.StageResponseStarted, auditv1.StageResponseComplete, auditv1.StagePanic} {
		if o.Has(string(s)) && !slices.Contains(k, s) {
			return false
		}
	}
	return true
}

// describe is a short description of a request for failure messages.
func describe(a *auditpolicy.Attributes) string {
	u := "<no user>"
	if a.Authenticated {
		u = fmt.Sprintf("%q %q", a.User, a.Groups)
	}
	if a.ResourceRequest {
		return fmt.Sprintf("user %s verb %q group %q resource %q sub %q ns %q name %q", u, a.Verb, a.APIGroup, a.Resource, a.Subresource, a.Namespace, a.Name)
	}
	return fmt.Sprintf("user %s verb %q path %q", u, a.Verb, a.Path)
}

// eventSource is a named list of event lines.
type eventSource struct {
	name  string
	lines [][]byte
}

// readLines returns the non-blank lines of a file.
func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines = append(lines, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func recordedEvents(t testing.TB) []eventSource {
	t.Helper()
	srcs := []eventSource{{name: "examples/sample-audit.log", lines: readLines(t, sampleLog)}}
	if n := len(srcs[0].lines); n != 151 {
		t.Fatalf("examples/sample-audit.log: %d events, want 151", n)
	}
	var samples eventSource
	samples.name = "pkg/audit/testdata/samples"
	err := filepath.WalkDir(auditSamples, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		samples.lines = append(samples.lines, readLines(t, path)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return append(srcs, samples)
}

func generatedEventLines() eventSource {
	g := auditgen.New(auditgen.Config{Seed: generatedSeed, MaxBodyBytes: 4 << 10})
	src := eventSource{name: fmt.Sprintf("auditgen seed %d", generatedSeed)}
	var buf []byte
	for i := range generatedEvents {
		buf = g.Append(buf[:0], int64(i), auditgen.StartTime.Add(time.Duration(i)*time.Millisecond))
		src.lines = append(src.lines, bytes.Clone(bytes.TrimSuffix(buf, []byte("\n"))))
	}
	return src
}

// compareEvents evaluates every event of src under every policy with both
// evaluators and returns the number of comparisons.
func compareEvents(t *testing.T, pairs []pair, src eventSource) int {
	t.Helper()
	var ev audit.Event
	n, parsed, failures := 0, 0, 0
	for i, line := range src.lines {
		if err := audit.Parse(line, &ev); err != nil {
			continue // not an event: nothing to evaluate
		}
		parsed++
		ours := auditpolicy.AttributesOf(&ev)
		theirs := k8sAttributes(&ev)
		if ours.Path != theirs.Path {
			t.Errorf("%s line %d: path %q, net/http %q", src.name, i+1, ours.Path, theirs.Path)
		}
		for _, p := range pairs {
			n++
			if d := agree(p, &ours, theirs); d != "" {
				if failures++; failures <= 20 {
					t.Errorf("%s line %d, policy %s: %s\n\trequest: %s", src.name, i+1, p.name, d, describe(&ours))
				}
			}
		}
	}
	if parsed == 0 {
		t.Fatalf("%s: no event parsed", src.name)
	}
	t.Logf("%s: %d events x %d policies = %d comparisons", src.name, parsed, len(pairs), n)
	return n
}

func TestRecordedEvents(t *testing.T) {
	pairs := loadPairs(t)
	for _, src := range recordedEvents(t) {
		compareEvents(t, pairs, src)
	}
}

func TestGeneratedEvents(t *testing.T) {
	pairs := loadPairs(t)
	compareEvents(t, pairs, generatedEventLines())
}

// The synthetic requests: every combination of these crosses the edge
// cases of the policies (users and no user, verbs in and out of case,
// groups, "*"-looking names, subresources, cluster-scoped and namespaced,
// named and unnamed, paths for the prefix rules).
var (
	synthUsers = []*user.DefaultInfo{
		nil, // failed authentication
		{},  // failed authentication, but the event has groups: see TestSyntheticAttributes
		{Name: "system:anonymous", Groups: []string{"system:unauthenticated"}},
		{Name: "system:kube-proxy", Groups: []string{"system:authenticated"}},
		{Name: "alice", Groups: []string{"dev", "system:authenticated"}},
		{Name: "bob"},
		{Name: "system:node:node-1", Groups: []string{"system:nodes", "system:authenticated"}},
		{Name: "system:serviceaccount:kube-system:foo", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}},
		{Name: "", Groups: []string{"system:masters"}}, // a user without a name (not from an event)
		{Name: "u9", Groups: []string{"g9"}},
	}
	synthVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "proxy", "GET", "Create", ""}
	// group, resource, subresource
	synthResources = [][3]string{
		{"", "pods", ""}, {"", "pods", "log"}, {"", "pods", "status"}, {"", "pods", "exec"}, {"", "pods", "attach"},
		{"", "configmaps", ""}, {"", "secrets", ""}, {"", "endpoints", ""}, {"", "events", ""}, {"", "namespaces", ""},
		{"", "nodes", ""}, {"", "nodes", "status"}, {"", "services", "status"}, {"", "serviceaccounts", "token"},
		{"apps", "deployments", ""}, {"apps", "deployments", "scale"}, {"apps", "deployments", "status"}, {"apps", "replicasets", ""},
		{"coordination.k8s.io", "leases", ""}, {"events.k8s.io", "events", ""}, {"rbac.authorization.k8s.io", "clusterroles", ""},
		{"authentication.k8s.io", "tokenreviews", ""}, {"example.com", "widgets", "status"},
		{"", "", ""}, {"", "*", ""}, {"", "*", "*"}, {"", "pods/log", ""}, {"", "pods", "*"}, {"*", "pods", ""}, {"", "r1", ""},
	}
	synthNamespaces = []string{"", "kube-system", "default", "foo", "n1"}
	synthNames      = []string{"", "controller-leader", "kube-controller-manager", "foo", "a1"}
	synthPaths      = []string{
		"/healthz", "/healthz/etcd", "/healthzx", "/livez", "/livez/ping", "/readyz", "/readyz/", "/version", "/version/",
		"/metrics", "/logs", "/logs/", "/logs/kube-apiserver.log", "/api", "/api/v1", "/apis", "/apis/apps/v1", "/openapi/v2",
		"/a", "/", "", "*", "/apis*", "/healthz*",
	}
)

// TestSyntheticAttributes compares both evaluators on every combination of
// the synthetic attributes, under every policy.
func TestSyntheticAttributes(t *testing.T) {
	pairs := loadPairs(t)
	n, failures := 0, 0
	hits := make([][]int, len(pairs)) // per policy, per rule + "no rule"
	for i, p := range pairs {
		hits[i] = make([]int, p.ours.Len()+1)
	}
	check := func(ours *auditpolicy.Attributes, theirs authorizer.AttributesRecord) {
		for i, p := range pairs {
			n++
			hits[i][p.ours.Evaluate(ours).Rule+1]++
			if d := agree(p, ours, theirs); d != "" {
				if failures++; failures <= 20 {
					t.Errorf("policy %s: %s\n\trequest: %s", p.name, d, describe(ours))
				}
			}
		}
	}
	combos := 0
	for _, u := range synthUsers {
		for _, verb := range synthVerbs {
			theirs := authorizer.AttributesRecord{Verb: verb}
			ours := auditpolicy.Attributes{Verb: verb}
			switch {
			case u == nil:
			case u.Name == "" && u.Groups == nil:
				// A user with neither name nor groups stands for an event
				// whose user.username is empty but whose user.groups are
				// not (a forged line): still no user for kube-apiserver.
				ours.Groups = []string{"system:authenticated", "dev", "system:nodes"}
			default:
				theirs.User = u
				ours.Authenticated, ours.User, ours.Groups = true, u.Name, u.Groups
			}
			for _, path := range synthPaths {
				theirs.Path, ours.Path = path, path
				check(&ours, theirs)
				combos++
			}
			theirs.ResourceRequest, ours.ResourceRequest = true, true
			theirs.Path, ours.Path = "/api/v1/x", "/api/v1/x"
			for _, r := range synthResources {
				theirs.APIGroup, theirs.Resource, theirs.Subresource = r[0], r[1], r[2]
				ours.APIGroup, ours.Resource, ours.Subresource = r[0], r[1], r[2]
				for _, ns := range synthNamespaces {
					theirs.Namespace, ours.Namespace = ns, ns
					for _, name := range synthNames {
						theirs.Name, ours.Name = name, name
						check(&ours, theirs)
						combos++
					}
				}
			}
		}
	}
	t.Logf("%d synthetic requests x %d policies = %d comparisons", combos, len(pairs), n)

	// Every rule of an edge policy is the first to match some synthetic
	// request, so that each edge case is exercised, except the rules that
	// illustrate shadowing.
	shadowed := map[string]bool{"no-selectors.yaml rules[3] (RequestResponse)": true}
	for i, p := range pairs {
		if !strings.HasPrefix(p.file, "testdata/edge/") {
			continue
		}
		for r := range p.ours.Len() {
			name := p.name + " " + p.ours.RuleName(r)
			if (hits[i][r+1] == 0) != shadowed[name] {
				t.Errorf("%s: first match of %d synthetic requests", name, hits[i][r+1])
			}
		}
	}
}

// TestAcceptance requires audittail to accept a policy exactly when
// kube-apiserver does, for the sample, edge and invalid policies.
func TestAcceptance(t *testing.T) {
	files := policyFiles(t)
	invalid, err := filepath.Glob("testdata/invalid/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(invalid) < 30 {
		t.Fatalf("found only %d invalid policies", len(invalid))
	}
	for _, f := range append(files, invalid...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, oerr := auditpolicy.Parse(data)
		_, terr := policy.LoadPolicyFromBytes(data)
		wantInvalid := strings.HasPrefix(f, "testdata/invalid/")
		switch {
		case (oerr == nil) != (terr == nil):
			t.Errorf("%s: audittail: %v; kube-apiserver: %v", f, oerr, terr)
		case wantInvalid && oerr == nil:
			t.Errorf("%s: both accept a policy of testdata/invalid", f)
		case !wantInvalid && oerr != nil:
			t.Errorf("%s: both refuse: %v", f, oerr)
		}
	}
}

// TestPaths compares the path of AttributesOf with what net/http decodes
// from request URIs as kube-apiserver writes them (req.URL.RequestURI():
// an escaped path and the query, never a scheme or host).
func TestPaths(t *testing.T) {
	for _, uri := range []string{
		"", "/", "*", "/healthz", "/healthz?verbose=1", "/a%20b", "/a%2Fb", "/a%2fb/c", "/a%zz", "/a%2", "/%E2%9C%93?x=%E2",
		"/a+b", "/a%2Bb", "/a%3Fb?c", "/a#b", "//x/y", "/logs/kube-apiserver.log", "/api/v1/namespaces/a%20b/pods",
		"/openapi/v3/apis/apps/v1?hash=ABC", "/a?b?c", "/%00", "/a%C3%28", "/metrics%3Fx",
	} {
		line := fmt.Sprintf(`{"auditID":"x","stage":"ResponseComplete","requestURI":%q,"verb":"get","user":{"username":"u"}}`, uri)
		var ev audit.Event
		if err := audit.Parse([]byte(line), &ev); err != nil {
			t.Fatalf("%q: %v", uri, err)
		}
		if got, want := auditpolicy.AttributesOf(&ev).Path, requestPath(uri); got != want {
			t.Errorf("requestURI %q: path %q, net/http %q", uri, got, want)
		}
	}
}
