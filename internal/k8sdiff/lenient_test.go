package k8sdiff

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apiserver/pkg/audit/policy"

	"github.com/audittail/audittail/pkg/auditpolicy"
)

// TestLenientDifference pins the one intended difference between the two
// loaders, excluded from TestAcceptance: kube-apiserver decodes a policy
// strictly and, when strict decoding fails only for strictness (an unknown
// field, a field given twice), decodes it again leniently with a warning
// and uses it (k8s.io/apiserver pkg/audit/policy/reader.go
// LoadPolicyFromBytes); audittail refuses it, an unknown or repeated field in
// an agent's configuration being an operator's mistake (a misspelt "user"
// silently widens a rule). In the same spirit audittail refuses two YAML
// features that kube-apiserver's YAML reader (go.yaml.in/yaml/v2) accepts
// and no policy needs: merge keys (<<) and explicit tags other than !!str,
// !!seq and !!map.
//
// Every policy of testdata/lenient is accepted by kube-apiserver and
// refused by audittail.
func TestLenientDifference(t *testing.T) {
	files, err := filepath.Glob("testdata/lenient/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no policies in testdata/lenient")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := policy.LoadPolicyFromBytes(data); err != nil {
			t.Errorf("%s: kube-apiserver refuses it: %v", f, err)
		}
		if _, err := auditpolicy.Parse(data); err == nil {
			t.Errorf("%s: audittail accepts it", f)
		} else {
			t.Logf("%s: %v", f, err)
		}
	}
}
