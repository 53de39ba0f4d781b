package auditpolicy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audittail/audittail/pkg/audit"
)

// fuzzAttributes are requests every parsed policy is evaluated on.
var fuzzAttributes = []Attributes{
	res(alice, "get", "", "pods", "", "default", "p"),
	res(alice, "update", "apps", "deployments", "scale", "default", "d"),
	res(anon, "list", "", "nodes", "", "", ""),
	res(nouser, "watch", "", "configmaps", "", "kube-system", "controller-leader"),
	nonRes(alice, "get", "/healthz"),
	nonRes(nouser, "get", "/version"),
	nonRes(anon, "post", "/apis/apps/v1"),
}

func addSeeds(f *testing.F) {
	files, err := filepath.Glob("testdata/policies/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, doc := range []string{
		policyOf("omitStages: [RequestReceived]\nomitManagedFields: yes\n",
			"- level: RequestResponse\n  resources: [{group: '*', resources: ['pods/*', '*/status', '*'], resourceNames: [a, '']}]\n  omitManagedFields: false",
			"- level: None\n  userGroups: [system:authenticated]\n  nonResourceURLs: ['/healthz*', '*']",
			"- level: Request\n  namespaces: ['', default]\n  users: [alice, system:anonymous]\n  verbs: [get, list]",
			"- level: Metadata\n  omitStages: [Panic]"),
		`{"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "None", "users": [null]}, {"level": "Metadata"}]}`,
		header + "rules:\n- &a {level: None}\n- *a\n- level: Request\n  users: [! 1, '2', !!str 3]\n",
		header + "rules: []\n",
		"",
	} {
		f.Add([]byte(doc))
	}
}

// FuzzParse: Parse never panics; it returns a policy or an *Error with at
// least one problem; a policy parses again to the same decisions, which
// are those of the reference evaluator and are deterministic.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || len(e.Errs) == 0 || e.Error() == "" {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		again, err := Parse(data)
		if err != nil {
			t.Fatalf("parses once, then: %v", err)
		}
		spec, errs := decode(data)
		if len(errs) > 0 {
			t.Fatalf("Parse accepts what decode refuses: %v", errs)
		}
		if p.Len() != again.Len() || p.Len() == 0 {
			t.Fatalf("Len %d then %d", p.Len(), again.Len())
		}
		for i := range p.Len() {
			if p.RuleName(i) != again.RuleName(i) {
				t.Fatalf("RuleName(%d) %q then %q", i, p.RuleName(i), again.RuleName(i))
			}
		}
		for i := range fuzzAttributes {
			a := &fuzzAttributes[i]
			r := p.Evaluate(a)
			if r2 := again.Evaluate(a); r != r2 {
				t.Fatalf("%+v: %+v then %+v", a, r, r2)
			}
			if want := reference(spec, a); r != want {
				t.Fatalf("%+v: %+v, reference %+v", a, r, want)
			}
		}
	})
}

// FuzzEvaluate: any attributes, under the sample policies and the seeds,
// give the reference evaluator's decision, without panicking.
func FuzzEvaluate(f *testing.F) {
	var specs []*policySpec
	var policies []*Policy
	files, err := filepath.Glob("testdata/policies/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	docs := [][]byte{[]byte(policyOf("omitStages: [RequestReceived]\n",
		"- level: RequestResponse\n  resources: [{group: '*', resources: ['pods/*', '*/status', '*/', '/*'], resourceNames: [a, '']}]\n  omitManagedFields: true",
		"- level: None\n  userGroups: [system:authenticated, g]\n  nonResourceURLs: ['/healthz*', '/a', '/b*']",
		"- level: Request\n  namespaces: ['', default]\n  users: [alice, '', system:anonymous]\n  verbs: [get, list]",
		"- level: Request\n  resources: [{resources: [x1, x2, x3, x4, x5, x6, x7, x8, x9, pods], resourceNames: [n1, n2, n3, n4, n5, n6, n7, n8, n9, '']}]",
		"- level: Metadata\n  omitStages: [Panic]"))}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		docs = append(docs, data)
	}
	for _, doc := range docs {
		spec, errs := decode(doc)
		if len(errs) > 0 {
			f.Fatal(errs[0])
		}
		specs = append(specs, spec)
		policies = append(policies, mustParse(f, string(doc)))
	}
	for _, a := range fuzzAttributes {
		f.Add(a.Authenticated, a.User, strings.Join(a.Groups, ","), a.Verb, a.ResourceRequest, a.APIGroup, a.Resource, a.Subresource, a.Namespace, a.Name, a.Path)
	}
	f.Add(true, "", "", "", true, "*", "*", "*", "", "", "")
	f.Add(true, "system:kube-proxy", "system:authenticated", "watch", true, "", "endpoints", "", "default", "", "/api/v1/endpoints")
	f.Fuzz(func(t *testing.T, authenticated bool, user, groups, verb string, resource bool, group, res, sub, ns, name, path string) {
		a := Attributes{Authenticated: authenticated, User: user, Verb: verb, ResourceRequest: resource,
			APIGroup: group, Resource: res, Subresource: sub, Namespace: ns, Name: name, Path: path}
		if groups != "" {
			a.Groups = strings.Split(groups, ",")
		}
		for i, p := range policies {
			r := p.Evaluate(&a)
			if want := reference(specs[i], &a); r != want {
				t.Fatalf("policy %d, %+v: %+v, reference %+v", i, a, r, want)
			}
			if r.Rule < -1 || r.Rule >= p.Len() || r.Rule == -1 && (r.Level != audit.LevelNone || r.OmitStages != p.OmitStages()) {
				t.Fatalf("policy %d: %+v", i, r)
			}
		}
	})
}

// reference is a literal port of k8s.io/apiserver
// pkg/audit/policy/checker.go on a decoded spec, to check the compiled
// evaluator against.
func reference(spec *policySpec, a *Attributes) Result {
	has := func(list []string, v string) bool {
		for _, s := range list {
			if s == v {
				return true
			}
		}
		return false
	}
	policyOmit := stagesOf(spec.omitStages)
	for i, r := range spec.rules {
		if matchesReference(&r, a, has) {
			omitMF := spec.omitManagedFields
			if r.omitManagedFields != nil {
				omitMF = *r.omitManagedFields
			}
			return Result{Level: r.level, OmitStages: policyOmit | stagesOf(r.omitStages), OmitManagedFields: omitMF, Rule: i}
		}
	}
	return Result{Level: audit.LevelNone, OmitStages: policyOmit, OmitManagedFields: spec.omitManagedFields, Rule: -1}
}

func matchesReference(r *ruleSpec, a *Attributes, has func([]string, string) bool) bool {
	if len(r.users) > 0 && (!a.Authenticated || !has(r.users, a.User)) {
		return false
	}
	if len(r.userGroups) > 0 {
		if !a.Authenticated {
			return false
		}
		matched := false
		for _, g := range a.Groups {
			if has(r.userGroups, g) {
				matched = true
				break
			}
		}
		if !matched {
			return false
		}
	}
	if len(r.verbs) > 0 && !has(r.verbs, a.Verb) {
		return false
	}
	if len(r.namespaces) > 0 || len(r.resources) > 0 {
		if !a.ResourceRequest {
			return false
		}
		if len(r.namespaces) > 0 && !has(r.namespaces, a.Namespace) {
			return false
		}
		if len(r.resources) == 0 {
			return true
		}
		combined := a.Resource
		if a.Subresource != "" {
			combined = a.Resource + "/" + a.Subresource
		}
		for _, gr := range r.resources {
			if gr.group == a.APIGroup || gr.group == "*" {
				if len(gr.resources) == 0 {
					return true
				}
				for _, res := range gr.resources {
					if len(gr.resourceNames) == 0 || has(gr.resourceNames, a.Name) {
						if res == combined || res == "*" {
							return true
						}
						if len(a.Subresource) > 0 && strings.HasPrefix(res, "*/") && a.Subresource == strings.TrimPrefix(res, "*/") {
							return true
						}
						if strings.HasSuffix(res, "/*") && a.Resource == strings.TrimSuffix(res, "/*") {
							return true
						}
					}
				}
			}
		}
		return false
	}
	if len(r.nonResourceURLs) > 0 {
		if a.ResourceRequest {
			return false
		}
		for _, spec := range r.nonResourceURLs {
			if spec == "*" || spec == a.Path || strings.HasSuffix(spec, "*") && strings.HasPrefix(a.Path, strings.TrimRight(spec, "*")) {
				return true
			}
		}
		return false
	}
	return true
}
