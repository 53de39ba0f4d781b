package k8sdiff

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apiserver/pkg/audit/policy"

	"github.com/audittail/audittail/pkg/audit"
	"github.com/audittail/audittail/pkg/auditpolicy"
)

// FuzzDifferential: for any policy document both loaders accept and any
// line audit.Parse accepts, both evaluators agree on the event. Seeded
// with every policy of the test data (valid, invalid and lenient) crossed
// with a few recorded events.
func FuzzDifferential(f *testing.F) {
	var policies []string
	for _, pattern := range []string{samplePolicies + "/*.yaml", "testdata/edge/*", "testdata/invalid/*", "testdata/lenient/*"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		policies = append(policies, m...)
	}
	events := readLines(f, sampleLog)
	events = append([][]byte{}, events[0], events[7], events[42], events[99], events[150])
	events = append(events, readLines(f, auditSamples+"/falco-k8s-audit-traces/anonymous_creates_namespace_foo.json")...)
	for i, p := range policies {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data), string(events[i%len(events)]))
	}
	f.Fuzz(func(t *testing.T, policyDoc, event string) {
		ours, oerr := auditpolicy.Parse([]byte(policyDoc))
		theirs, terr := policy.LoadPolicyFromBytes([]byte(policyDoc))
		if oerr != nil || terr != nil {
			return
		}
		var ev audit.Event
		if audit.Parse([]byte(event), &ev) != nil {
			return
		}
		p := pair{name: "fuzzed", ours: ours, theirs: policy.NewPolicyRuleEvaluator(theirs)}
		a := auditpolicy.AttributesOf(&ev)
		k := k8sAttributes(&ev)
		if d := agree(p, &a, k); d != "" {
			t.Fatalf("%s\n\trequest: %s", d, describe(&a))
		}
	})
}
