package auditpolicy

import (
	"strconv"
	"strings"

	"github.com/audittail/audittail/pkg/audit"
)

// rule is one compiled PolicyRule: its selectors as sets, its omitStages
// already united with the policy's and its omitManagedFields resolved, as
// k8s.io/apiserver pkg/audit/policy/checker.go NewPolicyRuleEvaluator and
// isOmitManagedFields do.
type rule struct {
	level  string
	omit   Stages
	omitMF bool

	users, userGroups, verbs strSet
	scope                    scope
	namespaces               strSet     // scopeResource
	resources                []groupRes // scopeResource; empty: any resource
	urls                     urlSet     // scopeNonResource
}

// scope says which requests a rule can match.
type scope uint8

const (
	scopeAll         scope = iota // no resources, namespaces or nonResourceURLs
	scopeResource                 // resources or namespaces
	scopeNonResource              // nonResourceURLs
)

// groupRes is one compiled GroupResources entry.
type groupRes struct {
	group    string
	anyGroup bool // group "*"
	anyRes   bool // no resources listed: every resource of the group
	names    strSet
	res      []resSpec
}

// resSpec is one entry of GroupResources.resources, with the three forms
// of checker.go ruleMatchesResource precomputed.
type resSpec struct {
	text      string // the entry; matches "resource" or "resource/subresource" exactly
	star      bool   // "*"
	anySub    bool   // "*/sub": sub is text[2:]
	resAndSub bool   // "res/*": res is text[:len(text)-2]
}

// urlSet is a rule's compiled nonResourceURLs (checker.go pathMatches).
type urlSet struct {
	any      bool     // "*"
	exact    strSet   // every entry, compared whole
	prefixes []string // entries ending with "*", trailing "*"s removed
}

// strSet is a set of strings: a list, searched linearly, for the handful of
// entries policies have, and a map above smallSet entries. Lookups do not
// allocate.
type strSet struct {
	list []string
	m    map[string]struct{}
}

const smallSet = 8

func newStrSet(list []string) strSet {
	s := strSet{list: list}
	if len(list) > smallSet {
		s.m = make(map[string]struct{}, len(list))
		for _, v := range list {
			s.m[v] = struct{}{}
		}
	}
	return s
}

func (s *strSet) empty() bool { return len(s.list) == 0 }

func (s *strSet) has(v string) bool {
	if s.m != nil {
		_, ok := s.m[v]
		return ok
	}
	for _, x := range s.list {
		if x == v {
			return true
		}
	}
	return false
}

// compile turns a validated spec into a Policy.
func compile(spec *policySpec) *Policy {
	p := &Policy{
		rules:  make([]rule, len(spec.rules)),
		names:  make([]string, len(spec.rules)),
		omit:   stagesOf(spec.omitStages),
		omitMF: spec.omitManagedFields,
	}
	for i := range spec.rules {
		rs := &spec.rules[i]
		r := &p.rules[i]
		r.level = canonicalLevel(rs.level)
		r.omit = p.omit | stagesOf(rs.omitStages)
		r.omitMF = p.omitMF
		if rs.omitManagedFields != nil {
			r.omitMF = *rs.omitManagedFields
		}
		r.users = newStrSet(rs.users)
		r.userGroups = newStrSet(rs.userGroups)
		r.verbs = newStrSet(rs.verbs)
		switch {
		case len(rs.namespaces) > 0 || len(rs.resources) > 0:
			r.scope = scopeResource
			r.namespaces = newStrSet(rs.namespaces)
			for _, gr := range rs.resources {
				g := groupRes{group: gr.group, anyGroup: gr.group == "*", anyRes: len(gr.resources) == 0, names: newStrSet(gr.resourceNames)}
				for _, res := range gr.resources {
					g.res = append(g.res, resSpec{
						text:      res,
						star:      res == "*",
						anySub:    strings.HasPrefix(res, "*/"),
						resAndSub: strings.HasSuffix(res, "/*"),
					})
				}
				r.resources = append(r.resources, g)
			}
		case len(rs.nonResourceURLs) > 0:
			r.scope = scopeNonResource
			r.urls.exact = newStrSet(rs.nonResourceURLs)
			for _, u := range rs.nonResourceURLs {
				if u == "*" {
					r.urls.any = true
				}
				if strings.HasSuffix(u, "*") {
					r.urls.prefixes = append(r.urls.prefixes, strings.TrimRight(u, "*"))
				}
			}
		}
		p.names[i] = "rules[" + strconv.Itoa(i) + "] (" + r.level + ")"
	}
	return p
}

// canonicalLevel returns the audit.Level* constant equal to a validated
// level, so that a Result's Level shares no memory with the document.
func canonicalLevel(l string) string {
	for _, c := range [...]string{audit.LevelNone, audit.LevelMetadata, audit.LevelRequest, audit.LevelRequestResponse} {
		if l == c {
			return c
		}
	}
	return l
}

func stagesOf(list []string) Stages {
	var s Stages
	for _, st := range list {
		s |= stageBit(st)
	}
	return s
}

// matches is checker.go ruleMatches.
func (r *rule) matches(a *Attributes) bool {
	if !r.users.empty() && (!a.Authenticated || !r.users.has(a.User)) {
		return false
	}
	if !r.userGroups.empty() {
		if !a.Authenticated {
			return false
		}
		found := false
		for _, g := range a.Groups {
			if r.userGroups.has(g) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if !r.verbs.empty() && !r.verbs.has(a.Verb) {
		return false
	}
	switch r.scope {
	case scopeResource:
		return r.matchesResource(a)
	case scopeNonResource:
		return !a.ResourceRequest && r.urls.matches(a.Path)
	}
	return true
}

// matchesResource is checker.go ruleMatchesResource.
func (r *rule) matchesResource(a *Attributes) bool {
	if !a.ResourceRequest {
		return false
	}
	if !r.namespaces.empty() && !r.namespaces.has(a.Namespace) {
		return false
	}
	if len(r.resources) == 0 {
		return true
	}
	for i := range r.resources {
		g := &r.resources[i]
		if g.group != a.APIGroup && !g.anyGroup {
			continue
		}
		if g.anyRes {
			return true
		}
		if !g.names.empty() && !g.names.has(a.Name) {
			continue
		}
		for j := range g.res {
			if g.res[j].matches(a.Resource, a.Subresource) {
				return true
			}
		}
	}
	return false
}

// matches reports whether the entry matches resource and subresource, as
// the three tests of checker.go ruleMatchesResource do, without building
// "resource/subresource".
func (s *resSpec) matches(resource, subresource string) bool {
	if s.star || isCombined(s.text, resource, subresource) {
		return true
	}
	if subresource != "" && s.anySub && s.text[2:] == subresource {
		return true
	}
	return s.resAndSub && s.text[:len(s.text)-2] == resource
}

// isCombined reports whether text is resource, or resource + "/" +
// subresource when subresource is set.
func isCombined(text, resource, subresource string) bool {
	if subresource == "" {
		return text == resource
	}
	n := len(resource)
	return len(text) == n+1+len(subresource) && text[:n] == resource && text[n] == '/' && text[n+1:] == subresource
}

// matches is checker.go ruleMatchesNonResource's loop over pathMatches.
func (u *urlSet) matches(path string) bool {
	if u.any || u.exact.has(path) {
		return true
	}
	for _, p := range u.prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
