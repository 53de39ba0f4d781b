// Package process is the stage between parsing an audit event and encoding
// it: it applies a client-side audit Policy (pkg/auditpolicy) and redacts
// secrets, by cutting and replacing byte ranges of the raw line.
//
// Guarantees of [Stage.Process]:
//   - an event the policy gives level None, or whose stage the matching
//     rule omits, is dropped: no message; the caller still moves the
//     checkpoint past its line;
//   - a policy level lower than the recorded one removes what that level
//     does not carry, as kube-apiserver would not have written it
//     (k8s.io/apiserver pkg/audit/request.go): at Request the
//     responseObject, at Metadata both objects and the annotations only
//     written at Request level (patch.webhook.admission.k8s.io/...), and
//     rewrites "level"; a higher policy level keeps the event as recorded
//     (what was not recorded cannot be added) and is counted;
//   - omitManagedFields removes metadata.managedFields from the request and
//     response objects, from each item of a list and from each row object of
//     a Table, but not from a patch (request.go copyWithoutManagedFields
//     strips decoded objects; a patch body is kept as sent);
//   - with redaction on (the default), every value of data and stringData
//     of a Secret (also as an item of a list or a Table row, and in a patch
//     of a Secret), the last-applied-configuration annotation of a Secret,
//     status.token of a TokenRequest and spec.token of a TokenReview become
//     "<redacted sha256:XXXXXXXX>", the first 8 hex digits of the value's
//     SHA-256;
//   - the line returned is the input with those byte ranges cut or
//     replaced: still one valid JSON object, the other members' bytes, key
//     order and number formatting unchanged;
//   - an event that needs none of this is returned as it is, with no copy
//     and no allocation: a Metadata-level event costs a policy evaluation,
//     or nothing without a policy.
package process

import (
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/audittail/audittail/pkg/audit"
	"github.com/audittail/audittail/pkg/auditpolicy"
)

// PolicyConfig is the policy section of the configuration.
type PolicyConfig struct {
	// File is an audit.k8s.io/v1 Policy applied to every event, exactly as
	// kube-apiserver applies its --audit-policy-file; "" applies none.
	File string `yaml:"file"`
}

// RedactConfig is the redact section of the configuration.
type RedactConfig struct {
	// Secrets redacts the secret values of Secrets, TokenRequests and
	// TokenReviews in request and response objects (default true).
	Secrets *bool `yaml:"secrets"`
}

// SetDefaults turns redaction on unless set.
func (c *RedactConfig) SetDefaults() {
	if c.Secrets == nil {
		on := true
		c.Secrets = &on
	}
}

// Enabled reports whether secrets are redacted.
func (c RedactConfig) Enabled() bool { return c.Secrets == nil || *c.Secrets }

// Stage applies the policy and the redaction to one event at a time. It is
// used by one goroutine; Stats may be called from any.
type Stage struct {
	policy *auditpolicy.Policy // nil: no policy
	redact bool

	attrs auditpolicy.Attributes
	w     rewriter
	buf   []byte // the rewritten line, until the next Process

	rules      []ruleCounters // rules[0] for "no rule matched", then rules[1+i] for rule i
	redactions [numRedactions]atomic.Uint64
	rewritten  atomic.Uint64
	failed     atomic.Uint64
}

// ruleCounters count what one rule of the policy did.
type ruleCounters struct {
	dropped, reduced, kept, wantedMore atomic.Uint64
	savedBytes                         atomic.Uint64
}

// keepBuf bounds the rewritten-line buffer kept for the next event, so
// that one huge line does not pin its copy.
const keepBuf = 1 << 20

// New returns a stage applying policy (nil: none) and, when redact is
// true, redacting secrets.
func New(policy *auditpolicy.Policy, redact bool) *Stage {
	s := &Stage{policy: policy, redact: redact}
	if policy != nil {
		s.rules = make([]ruleCounters, policy.Len()+1)
	}
	return s
}

// Load reads the policy file of pc, if any, and returns the stage for it
// and rc. A policy that does not load or validate is an error that names
// the file, the rule and the reason.
func Load(pc PolicyConfig, rc RedactConfig) (*Stage, error) {
	var p *auditpolicy.Policy
	if pc.File != "" {
		var err error
		if p, err = auditpolicy.Load(pc.File); err != nil {
			return nil, err
		}
	}
	return New(p, rc.Enabled()), nil
}

// Active reports whether the stage does anything: without a policy and
// without redaction, the pipeline need not call it.
func (s *Stage) Active() bool { return s != nil && (s.policy != nil || s.redact) }

// Policy returns the policy applied, nil if none.
func (s *Stage) Policy() *auditpolicy.Policy { return s.policy }

// Level ordinals.
const (
	lvNone = iota
	lvMetadata
	lvRequest
	lvRequestResponse
)

func levelOrd(l string) int {
	switch l {
	case audit.LevelNone:
		return lvNone
	case audit.LevelMetadata:
		return lvMetadata
	case audit.LevelRequest:
		return lvRequest
	case audit.LevelRequestResponse:
		return lvRequestResponse
	}
	return -1
}

var levelNames = [...]string{audit.LevelNone, audit.LevelMetadata, audit.LevelRequest, audit.LevelRequestResponse}

// Process applies the stage to the event ev parsed from line. keep false
// means the policy drops the event. Otherwise out is the line to ship:
// line itself, or a rewritten copy valid until the next call, and ev is
// updated to match it (Level, RequestObject, ResponseObject).
func (s *Stage) Process(line []byte, ev *audit.Event) (out []byte, keep bool) {
	if cap(s.buf) > keepBuf {
		s.buf = nil
	}
	recorded := levelOrd(ev.Level)
	target := recorded
	omitMF := false
	var rc *ruleCounters
	if s.policy != nil {
		s.attrs = auditpolicy.AttributesOf(ev)
		r := s.policy.Evaluate(&s.attrs)
		rc = &s.rules[r.Rule+1]
		pl := levelOrd(r.Level)
		if pl <= lvNone || r.OmitStages.Has(ev.Stage) {
			rc.dropped.Add(1)
			rc.savedBytes.Add(uint64(len(line)) + 1)
			return nil, false
		}
		switch {
		case recorded < lvMetadata: // a level kube-apiserver does not write: keep as is
			rc.kept.Add(1)
		case pl < recorded:
			target = pl
			rc.reduced.Add(1)
		case pl > recorded:
			rc.wantedMore.Add(1)
		default:
			rc.kept.Add(1)
		}
		omitMF = r.OmitManagedFields
	}

	keepReq := len(ev.RequestObject) > 0 && (recorded < 0 || target >= lvRequest)
	keepResp := len(ev.ResponseObject) > 0 && (recorded < 0 || target >= lvRequestResponse)
	base := bodyCtx{redact: s.redact}
	if ref := ev.ObjectRef; ref != nil && ref.APIGroup == "" {
		base.secrets = ref.Resource == "secrets"
		base.tokenReq = ref.Resource == "serviceaccounts" && ref.Subresource == "token"
	}
	if ref := ev.ObjectRef; ref != nil && ref.APIGroup == "authentication.k8s.io" {
		base.tokenRev = ref.Resource == "tokenreviews"
	}
	reqCtx, respCtx := base, base
	reqCtx.omitMF = omitMF && ev.Verb != "patch"
	respCtx.omitMF = omitMF
	work := target != recorded ||
		keepReq && (reqCtx.omitMF && hasManagedFields(ev.RequestObject) || s.redact && reqCtx.candidate(ev.RequestObject)) ||
		keepResp && (respCtx.omitMF && hasManagedFields(ev.ResponseObject) || s.redact && respCtx.candidate(ev.ResponseObject))
	if !work {
		return line, true
	}

	w := &s.w
	w.reset(line)
	var req, resp [2]int
	hasReq, hasResp := false, false
	reduceAnnotations := target == lvMetadata && recorded > lvMetadata
	ok := w.deleteMembers(0, func(m jsonMember) bool {
		switch {
		case w.key(m, "requestObject"):
			return !keepReq
		case w.key(m, "responseObject"):
			return !keepResp
		}
		return false
	}, func(m jsonMember) {
		switch {
		case target != recorded && w.key(m, "level"):
			w.replace(m.ValueStart, m.ValueEnd, []byte(strconv.Quote(levelNames[target])))
		case reduceAnnotations && w.key(m, "annotations") && isObject(w.src, m.ValueStart):
			w.deleteMembers(m.ValueStart, func(a jsonMember) bool {
				return hasPrefixKey(w.src[a.KeyStart:a.KeyEnd], "patch.webhook.admission.k8s.io/")
			}, nil)
		case w.key(m, "requestObject"):
			w.body(m.ValueStart, reqCtx)
			req, hasReq = [2]int{m.ValueStart, m.ValueEnd}, true
		case w.key(m, "responseObject"):
			w.body(m.ValueStart, respCtx)
			resp, hasResp = [2]int{m.ValueStart, m.ValueEnd}, true
		}
	})
	if !ok {
		// Cannot happen for a line audit.Parse accepted; ship it as it is
		// rather than lose it.
		s.failed.Add(1)
		return line, true
	}
	if len(w.edits) == 0 {
		return line, true
	}
	s.buf = w.apply(s.buf[:0])
	out = s.buf
	if target != recorded {
		ev.Level = levelNames[target]
	}
	ev.RequestObject, ev.ResponseObject = nil, nil
	if keepReq && hasReq {
		ev.RequestObject = out[w.moved(req[0]):w.moved(req[1])]
	}
	if keepResp && hasResp {
		ev.ResponseObject = out[w.moved(resp[0]):w.moved(resp[1])]
	}
	for k := range numRedactions {
		s.redactions[k].Add(uint64(w.redacted[k]))
	}
	s.rewritten.Add(1)
	if rc != nil {
		rc.savedBytes.Add(uint64(len(line) - len(out)))
	}
	return out, true
}

// hasManagedFields reports, cheaply, whether a body may hold managedFields.
func hasManagedFields(body []byte) bool {
	return containsString(body, `"managedFields"`)
}

// RuleStats is what one rule did.
type RuleStats struct {
	Rule       string // "rules[3] (Metadata)", or "no rule" for events no rule matched
	Dropped    uint64 // events dropped (level None or an omitted stage)
	Reduced    uint64 // events shipped at a lower level than recorded
	Kept       uint64 // events shipped as recorded
	WantedMore uint64 // events the rule wanted at a higher level than recorded, shipped as recorded
	SavedBytes uint64 // bytes of audit log lines not shipped: dropped lines and cut ranges
}

// Stats are the stage's counters.
type Stats struct {
	Rules     []RuleStats // nil without a policy
	Redacted  map[string]uint64
	Rewritten uint64 // lines shipped rewritten
	Failed    uint64 // lines that could not be rewritten, shipped as they were
}

// Redactions is the number of values redacted, of every kind.
func (st Stats) Redactions() uint64 {
	var n uint64
	for _, v := range st.Redacted {
		n += v
	}
	return n
}

// Stats returns a snapshot of the counters.
func (s *Stage) Stats() Stats {
	var st Stats
	for i := range s.rules {
		c := &s.rules[i]
		name := "no rule" // rules[0] counts the events no rule matched
		if i > 0 {
			name = s.policy.RuleName(i - 1)
		}
		st.Rules = append(st.Rules, RuleStats{Rule: name, Dropped: c.dropped.Load(), Reduced: c.reduced.Load(),
			Kept: c.kept.Load(), WantedMore: c.wantedMore.Load(), SavedBytes: c.savedBytes.Load()})
	}
	st.Redacted = map[string]uint64{
		"secret_data":  s.redactions[redactSecretData].Load(),
		"last_applied": s.redactions[redactLastApplied].Load(),
		"token":        s.redactions[redactToken].Load(),
	}
	st.Rewritten, st.Failed = s.rewritten.Load(), s.failed.Load()
	return st
}

// String describes the stage for the start-up log line.
func (s *Stage) String() string {
	switch {
	case s.policy != nil:
		return fmt.Sprintf("policy with %d rules, redaction %v", s.policy.Len(), s.redact)
	case s.redact:
		return "redaction"
	}
	return "none"
}
