// Package k8sdiff holds the differential tests of pkg/auditpolicy against
// kube-apiserver's own code, k8s.io/apiserver v0.37 pkg/audit/policy: its
// policy reader (LoadPolicyFromBytes, reader.go, with
// pkg/apis/audit/validation) and its evaluator (NewPolicyRuleEvaluator,
// checker.go). It is a module of its own so that the agent's go.mod
// requires no Kubernetes library; it has no code but its tests.
//
// For every policy of pkg/auditpolicy/testdata/policies (real policies)
// and testdata/edge (one per edge case of the evaluation), the tests
// require the same Level, OmitStages (as a set) and OmitManagedFields from
// both evaluators on:
//   - every event of examples/sample-audit.log and of
//     pkg/audit/testdata/samples (TestRecordedEvents);
//   - 20,000 events of internal/auditgen (TestGeneratedEvents);
//   - every combination of synthetic users (and no user), verbs, API
//     groups, resources, subresources, namespaces, names and non-resource
//     paths (TestSyntheticAttributes), which also requires each rule of an
//     edge policy to be the first match of some request;
//   - any policy and event of FuzzDifferential that both sides accept.
//
// kube-apiserver's attributes are built from each event independently of
// auditpolicy.AttributesOf: no user when user.username is empty, the path
// as net/http decodes requestURI (TestPaths compares the two paths).
//
// TestAcceptance requires audittail to accept a policy exactly when
// kube-apiserver does, for the policies above and those of
// testdata/invalid (one per rejection), and TestInlineAcceptance the same
// for hundreds of small documents (YAML 1.1 scalars in every field, JSON
// and YAML details). The intended difference, an unknown or repeated field
// (kube-apiserver falls back to lenient decoding with a warning, audittail
// refuses), and the YAML features audittail refuses, are pinned by
// TestLenientDifference on testdata/lenient.
//
// Run with: cd internal/k8sdiff && go test -count=1 ./...
package k8sdiff
