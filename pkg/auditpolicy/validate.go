package auditpolicy

import (
	"strconv"
	"strings"

	"github.com/audittail/audittail/pkg/audit"
)

// Error is the error of [Parse] and [Load] for a policy that does not
// decode or is not valid: every problem found, in document order for
// decoding problems, in field order for validation problems (as
// kube-apiserver's field.ErrorList).
type Error struct {
	// File is the policy file (set by Load); "" for Parse.
	File string
	// Errs are the problems, at least one.
	Errs []*FieldError
}

// Error returns one line per problem, each naming the file, e.g.
//
//	policy /etc/audittail/policy.yaml: rules[3].nonResourceURLs[0]: "healthz": must start with "/"
//
// ("policy: ..." without a file).
func (e *Error) Error() string {
	prefix := "policy: "
	if e.File != "" {
		prefix = "policy " + e.File + ": "
	}
	var b strings.Builder
	for i, fe := range e.Errs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(prefix)
		b.WriteString(fe.Error())
	}
	return b.String()
}

// Unwrap returns the problems, for errors.As and errors.Is.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Errs))
	for i, fe := range e.Errs {
		errs[i] = fe
	}
	return errs
}

// FieldError is one problem of a policy document.
type FieldError struct {
	// Field is the path of the field, as kube-apiserver's validation names
	// it but with every list index, e.g. "rules[3].nonResourceURLs[0]" or
	// "rules[1].resources[0].group"; "" for the document as a whole.
	Field string
	// Line is the 1-based line of the problem for a decoding problem (a
	// syntax error, an unknown field, a value of the wrong type), 0 for a
	// validation problem.
	Line int
	// Reason says what is wrong, quoting the offending value if any, e.g.
	// `"healthz": must start with "/"`.
	Reason string
}

// Error returns "[line N: ]field: reason".
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Reasons of validation problems.
const (
	reasonLevel      = "must be None, Metadata, Request or RequestResponse"
	reasonStage      = "must be RequestReceived, ResponseStarted, ResponseComplete or Panic"
	reasonURLSlash   = `must start with "/"`
	reasonURLStar    = `"*" may only be the last character`
	reasonURLMixed   = "a rule cannot have nonResourceURLs together with resources or namespaces"
	reasonGroup      = `must be "" (the core group), "*" or a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)`
	reasonNames      = "resourceNames requires at least one resource"
	reasonNoRules    = "a policy needs at least one rule"
	reasonAPIVersion = "must be " + APIVersion
	reasonKind       = "must be " + Kind
)

// validate checks spec as k8s.io/apiserver pkg/apis/audit/validation/validation.go
// ValidatePolicy and pkg/audit/policy/reader.go do, collecting every problem.
func validate(spec *policySpec) []*FieldError {
	var errs []*FieldError
	// problem records a reason about a field, invalid one about its value.
	problem := func(field, reason string) {
		errs = append(errs, &FieldError{Field: field, Reason: reason})
	}
	invalid := func(field, value, reason string) {
		problem(field, strconv.Quote(value)+": "+reason)
	}
	switch spec.apiVersion {
	case APIVersion:
	case "":
		problem("apiVersion", "required, "+APIVersion)
	default:
		invalid("apiVersion", spec.apiVersion, reasonAPIVersion)
	}
	// An absent kind is Policy: kube-apiserver's decoder takes the kind of
	// the object it decodes into (k8s.io/apimachinery
	// pkg/runtime/serializer/json/json.go Decode, gvkWithDefaults).
	if spec.kind != "" && spec.kind != Kind {
		invalid("kind", spec.kind, reasonKind)
	}
	validateStages(spec.omitStages, "omitStages", invalid)
	for i := range spec.rules {
		r := &spec.rules[i]
		path := index("rules", i)
		switch r.level {
		case audit.LevelNone, audit.LevelMetadata, audit.LevelRequest, audit.LevelRequestResponse:
		case "":
			problem(path+".level", "required, one of None, Metadata, Request, RequestResponse")
		default:
			invalid(path+".level", r.level, reasonLevel)
		}
		for j, u := range r.nonResourceURLs {
			if u == "*" {
				continue
			}
			f := index(path+".nonResourceURLs", j)
			if !strings.HasPrefix(u, "/") {
				invalid(f, u, reasonURLSlash)
			}
			if u != "" && strings.Contains(u[:len(u)-1], "*") {
				invalid(f, u, reasonURLStar)
			}
		}
		for j, gr := range r.resources {
			f := index(path+".resources", j)
			if gr.group != "" && gr.group != "*" && !isDNS1123Subdomain(gr.group) {
				invalid(f+".group", gr.group, reasonGroup)
			}
			if len(gr.resourceNames) > 0 && len(gr.resources) == 0 {
				problem(f+".resourceNames", reasonNames)
			}
		}
		validateStages(r.omitStages, path+".omitStages", invalid)
		if len(r.nonResourceURLs) > 0 && (len(r.resources) > 0 || len(r.namespaces) > 0) {
			problem(path+".nonResourceURLs", reasonURLMixed)
		}
	}
	if len(spec.rules) == 0 {
		problem("rules", reasonNoRules)
	}
	return errs
}

func validateStages(stages []string, field string, invalid func(field, value, reason string)) {
	for i, s := range stages {
		if stageBit(s) == 0 {
			invalid(index(field, i), s, reasonStage)
		}
	}
}

// isDNS1123Subdomain reports whether s is a DNS-1123 subdomain as
// k8s.io/apimachinery pkg/util/validation IsDNS1123Subdomain defines it: at
// most 253 characters, labels separated by ".", each of lower-case letters,
// digits and "-", starting and ending with a letter or digit (labels have
// no length limit of their own there).
func isDNS1123Subdomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
			if !alnum && (c != '-' || i == 0 || i == len(label)-1) {
				return false
			}
		}
	}
	return true
}
