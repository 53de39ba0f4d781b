package auditpolicy

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSamplePolicies loads the real policies of testdata/policies (see
// SOURCES.md there) and checks a few decisions of each.
func TestSamplePolicies(t *testing.T) {
	files, err := filepath.Glob("testdata/policies/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]int{
		"audit2rbac-demo-policy.yaml":                1,
		"falco-k8saudit-audit-policy.yaml":           11,
		"gce-gci-configure-helper-audit-policy.yaml": 17,
		"kubernetes-website-audit-policy.yaml":       9,
	}
	if len(files) != len(rules) {
		t.Fatalf("%d sample policies, want %d: %v", len(files), len(rules), files)
	}
	if _, err := os.Stat("testdata/policies/SOURCES.md"); err != nil {
		t.Errorf("the sample policies need their SOURCES.md: %v", err)
	}
	for _, f := range files {
		p, err := Load(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if want := rules[filepath.Base(f)]; p.Len() != want {
			t.Errorf("%s: %d rules, want %d", f, p.Len(), want)
		}
	}

	web, err := Load("testdata/policies/kubernetes-website-audit-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		attrs Attributes
		level string
		rule  int
	}{
		{"pods", res(alice, "get", "", "pods", "", "default", "p"), rr, 0},
		{"pods/log", res(alice, "get", "", "pods", "log", "default", "p"), meta, 1},
		{"controller-leader", res(alice, "update", "", "configmaps", "", "kube-system", "controller-leader"), none, 2},
		{"kube-proxy watches endpoints", res(Attributes{Authenticated: true, User: "system:kube-proxy"}, "watch", "", "endpoints", "", "default", ""), none, 3},
		{"/api* for authenticated users", nonRes(alice, "get", "/apis/apps/v1"), none, 4},
		{"/version for no user", nonRes(nouser, "get", "/version"), meta, 8},
		{"secrets", res(alice, "get", "", "secrets", "", "default", "s"), meta, 6},
		{"events: the core group", res(alice, "create", "", "events", "", "default", "e"), req, 7},
		{"apps: no rule but the last", res(alice, "create", "apps", "deployments", "", "default", "d"), meta, 8},
	} {
		r := web.Evaluate(&c.attrs)
		if r.Level != c.level || r.Rule != c.rule || r.OmitStages != RequestReceived {
			t.Errorf("kubernetes-website, %s: %s rule %d omitStages [%s], want %s rule %d [RequestReceived]", c.name, r.Level, r.Rule, r.OmitStages, c.level, c.rule)
		}
	}
}
