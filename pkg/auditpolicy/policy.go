// Package auditpolicy is a client-side Kubernetes audit Policy
// (audit.k8s.io/v1 Policy): it reads a policy as kube-apiserver reads its
// --audit-policy-file and evaluates it on the attributes of a recorded audit
// event as kube-apiserver evaluates it on a request.
//
// The semantics are those of k8s.io/apiserver v0.37:
//   - reading: pkg/audit/policy/reader.go (only audit.k8s.io/v1, kind Policy,
//     zero rules is an error) and pkg/apis/audit/validation/validation.go
//     (every check, every error collected), see [Parse];
//   - evaluation: pkg/audit/policy/checker.go, see [Policy.Evaluate];
//   - attributes of a recorded event: pkg/endpoints/request/requestinfo.go and
//     pkg/audit/request.go, see [AttributesOf].
//
// A differential test (the internal/k8sdiff module) runs kube-apiserver's own
// loader and evaluator next to this package on recorded and generated events,
// on synthetic attribute combinations and on one policy per edge case, and
// requires the same answers.
//
// Decoding differs from kube-apiserver on purpose in one way: kube-apiserver
// decodes a policy strictly and, when that fails only because of an unknown
// or duplicated field, falls back to lenient decoding with a warning; this
// package rejects such a policy (for an agent's configuration, an unknown
// field is an operator's mistake). See [Parse] for the details.
//
// Only the standard library, pkg/audit and go.yaml.in/yaml/v3 are used.
package auditpolicy

import (
	"fmt"
	"os"
	"strings"

	"github.com/audittail/audittail/pkg/audit"
)

// APIVersion and Kind are the only accepted apiVersion and kind of a policy
// document, as in k8s.io/apiserver pkg/audit/policy/reader.go.
const (
	APIVersion = "audit.k8s.io/v1"
	Kind       = "Policy"
)

// Policy is a parsed and validated audit policy, ready to evaluate. It is
// immutable: [Policy.Evaluate] may be called from any number of goroutines.
type Policy struct {
	rules  []rule
	names  []string // RuleName of each rule
	omit   Stages   // the policy's omitStages
	omitMF bool     // the policy's omitManagedFields
}

// Result is what a policy decides for one request (k8s.io/apiserver
// pkg/audit RequestAuditConfig).
type Result struct {
	// Level is the level of the first matching rule, audit.LevelNone when
	// no rule matches. It is one of the audit.Level* constants.
	Level string
	// OmitStages are the stages not to record: the rule's omitStages united
	// with the policy's, or the policy's when no rule matches.
	OmitStages Stages
	// OmitManagedFields is the rule's omitManagedFields when the rule sets
	// it, else the policy's.
	OmitManagedFields bool
	// Rule is the index of the matching rule in the policy's rules, -1 when
	// none matches.
	Rule int
}

// Stages is a set of request stages (the four audit.Stage* values).
type Stages uint8

// The stages of a request as members of a [Stages] set.
const (
	RequestReceived Stages = 1 << iota
	ResponseStarted
	ResponseComplete
	Panic
)

// stageNames lists the stages in the order of their bits.
var stageNames = [...]string{audit.StageRequestReceived, audit.StageResponseStarted, audit.StageResponseComplete, audit.StagePanic}

// stageBit returns the member of Stages for a stage name, 0 for any other
// string (Has is then false).
func stageBit(stage string) Stages {
	switch stage {
	case audit.StageRequestReceived:
		return RequestReceived
	case audit.StageResponseStarted:
		return ResponseStarted
	case audit.StageResponseComplete:
		return ResponseComplete
	case audit.StagePanic:
		return Panic
	}
	return 0
}

// Has reports whether stage (as written in an event's "stage", e.g.
// "RequestReceived") is in s. It is false for any string that is not one of
// the four stages.
func (s Stages) Has(stage string) bool {
	b := stageBit(stage)
	return b != 0 && s&b != 0
}

// String lists the stages of s separated by commas, in the order
// RequestReceived, ResponseStarted, ResponseComplete, Panic; "" when empty.
func (s Stages) String() string {
	var b strings.Builder
	for i, name := range stageNames {
		if s&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(name)
		}
	}
	return b.String()
}

// Load reads and parses the policy file at path (see [Parse]). Every error
// names the file: a policy that does not decode or validate gives an
// [*Error] with File set, e.g.
//
//	policy /etc/audittail/policy.yaml: rules[3].nonResourceURLs[0]: "healthz": must start with "/"
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		if e, ok := err.(*Error); ok {
			e.File = path
			return nil, e
		}
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// Parse parses and validates an audit.k8s.io/v1 Policy document, YAML or
// JSON, and returns the policy ready to evaluate, or an [*Error] listing
// every problem found.
//
// Like kube-apiserver (k8s.io/apimachinery's universal decoder), a document
// whose first character other than white space is "{" is read as JSON, any
// other as YAML, of which only the first document counts; YAML scalars are
// typed by YAML 1.1 rules as go.yaml.in/yaml/v2 (used by sigs.k8s.io/yaml)
// types them: an unquoted yes, no, on, off, y or n is a boolean, an unquoted
// 123 is a number, so neither is accepted where a string is expected, and
// omitManagedFields: yes is true. Field names are case-sensitive. A null
// value is the field's zero value (null in a list of strings is "").
//
// Decoding is strict, unlike kube-apiserver's fallback to lenient decoding:
// an unknown field or a field given twice is an error. Also rejected: YAML
// merge keys (<<) and explicit tags other than !!str, !!seq and !!map,
// which kube-apiserver accepts; nesting deeper than 100 levels; more than
// 1,000,000 values (after expanding YAML aliases). metadata, which
// kube-apiserver decodes as an ObjectMeta and then ignores, is checked the
// same way, except for the items of its ownerReferences and managedFields.
//
// Validation is that of k8s.io/apiserver pkg/apis/audit/validation/validation.go,
// every error collected:
//   - apiVersion must be audit.k8s.io/v1, and kind Policy or absent (as
//     kube-apiserver's decoder, which takes the kind it decodes into);
//   - every rule's level is required and is None, Metadata, Request or
//     RequestResponse;
//   - omitStages (the policy's and the rules') are RequestReceived,
//     ResponseStarted, ResponseComplete or Panic;
//   - a nonResourceURLs entry is "*" or starts with "/", and has "*" only as
//     its last character;
//   - a rule has not both nonResourceURLs and resources or namespaces;
//   - a resources entry's group is "" (the core group), "*" or a DNS-1123
//     subdomain, and resourceNames requires resources;
//   - at least one rule (reader.go).
//
// Resource names, verbs, users, groups and namespaces are not validated,
// as kube-apiserver does not validate them (a misspelt resource matches
// nothing).
func Parse(data []byte) (*Policy, error) {
	spec, errs := decode(data)
	if len(errs) == 0 {
		errs = validate(spec)
	}
	if len(errs) > 0 {
		return nil, &Error{Errs: errs}
	}
	return compile(spec), nil
}

// Len returns the number of rules of p.
func (p *Policy) Len() int {
	if p == nil {
		return 0
	}
	return len(p.rules)
}

// RuleName returns a short description of rule i for logs and metric
// labels, "rules[i] (Level)" with i 0-based as in kube-apiserver's validation
// errors, e.g. "rules[2] (Metadata)"; "no rule" when i is outside [0, Len).
// It does not allocate.
func (p *Policy) RuleName(i int) string {
	if p == nil || i < 0 || i >= len(p.names) {
		return "no rule"
	}
	return p.names[i]
}

// OmitStages returns the policy's own omitStages, the result's OmitStages
// when no rule matches.
func (p *Policy) OmitStages() Stages {
	if p == nil {
		return 0
	}
	return p.omit
}

// OmitManagedFields returns the policy's own omitManagedFields.
func (p *Policy) OmitManagedFields() bool { return p != nil && p.omitMF }

// Evaluate returns what p decides for a request with the attributes a,
// exactly as kube-apiserver's policyRuleEvaluator.EvaluatePolicyRule
// (k8s.io/apiserver pkg/audit/policy/checker.go):
//
//   - the first rule that matches, in order, gives the level, its
//     omitStages (united with the policy's) and its omitManagedFields (the
//     policy's when the rule does not set it);
//   - no matching rule gives level None, the policy's omitStages and
//     omitManagedFields, and Rule -1.
//
// A rule matches when each of its non-empty selectors matches:
//   - users: a.Authenticated and a.User is listed; userGroups:
//     a.Authenticated and one of a.Groups is listed (so a request that
//     failed authentication matches no rule with users or userGroups);
//   - verbs: a.Verb is listed (exact, case-sensitive);
//   - if the rule has namespaces or resources, it matches resource requests
//     only: a.Namespace is listed in namespaces ("" is a cluster-scoped
//     request), and one resources entry matches: its group is a.APIGroup
//     (an absent group is "", the core group) or "*"; it lists no resources,
//     or a.Name is in its resourceNames (when set) and one of its resources
//     is a.Resource (with no subresource) or "resource/subresource", or "*"
//     (anything, subresources too), or "*/sub" (subresource sub of any
//     resource), or "resource/*" (any subresource of resource, and resource
//     itself);
//   - else, if the rule has nonResourceURLs, it matches non-resource
//     requests only: an entry is "*", or a.Path, or ends with "*" and
//     a.Path starts with what precedes that "*";
//   - a rule with none of resources, namespaces and nonResourceURLs matches
//     both kinds of request.
//
// Evaluate does not allocate. A nil p gives level None and Rule -1.
func (p *Policy) Evaluate(a *Attributes) Result {
	if p == nil {
		return Result{Level: audit.LevelNone, Rule: -1}
	}
	for i := range p.rules {
		r := &p.rules[i]
		if r.matches(a) {
			return Result{Level: r.level, OmitStages: r.omit, OmitManagedFields: r.omitMF, Rule: i}
		}
	}
	return Result{Level: audit.LevelNone, OmitStages: p.omit, OmitManagedFields: p.omitMF, Rule: -1}
}
