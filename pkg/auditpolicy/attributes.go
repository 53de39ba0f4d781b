package auditpolicy

import (
	"net/url"
	"strings"

	"github.com/audittail/audittail/pkg/audit"
)

// Attributes are the request attributes a policy looks at, those of
// kube-apiserver's authorizer.Attributes that k8s.io/apiserver
// pkg/audit/policy/checker.go reads.
type Attributes struct {
	// Authenticated is false for a request that failed authentication, for
	// which kube-apiserver's GetUser() is nil: no rule with users or
	// userGroups matches it.
	Authenticated bool
	// User is the user's name and Groups the user's groups (after
	// authentication, before impersonation).
	User   string
	Groups []string
	// Verb is the Kubernetes verb of a resource request (get, list, watch,
	// create, ...) or the lower-case HTTP method of a non-resource request.
	Verb string
	// ResourceRequest tells a request for an API resource from a
	// non-resource request (/healthz, /version, /apis, ...).
	ResourceRequest bool
	// APIGroup ("" for the core group), Resource, Subresource, Namespace (""
	// for a cluster-scoped request) and Name describe a resource request.
	APIGroup, Resource, Subresource, Namespace, Name string
	// Path is the URL path, percent-decoded, without the query; policies
	// match it for non-resource requests only.
	Path string
}

// AttributesOf returns the attributes of the request ev records, as
// kube-apiserver filled the event from the attributes it evaluated its
// policy on (k8s.io/apiserver pkg/audit/request.go, from
// pkg/endpoints/request/requestinfo.go):
//   - Authenticated is user.username != "" (a request that failed
//     authentication is logged with an empty user, pkg/endpoints/filters/authn_audit.go);
//     User and Groups are user.username and user.groups; impersonatedUser
//     plays no part, the policy being evaluated before impersonation;
//   - Verb is verb;
//   - ResourceRequest is objectRef != nil (objectRef is set exactly for
//     resource requests); APIGroup, Resource, Subresource, Namespace and
//     Name are those of objectRef ("" when absent);
//   - Path is requestURI up to the first "?", percent-decoded with
//     url.PathUnescape as net/http decodes URL.Path; when it does not decode
//     (a request net/http would have refused), the raw path.
//
// Two attributes can differ from what kube-apiserver saw: objectRef.name of a
// create is the name from the body, where kube-apiserver saw "" (a rule
// with resourceNames may match the recorded create but did not match the
// request); objectRef.namespace can likewise come from the body of a request
// whose URL had none.
//
// The attributes share ev's strings and its Groups slice: they are valid
// until ev is parsed into again. AttributesOf allocates only to
// percent-decode a path holding "%".
func AttributesOf(ev *audit.Event) Attributes {
	a := Attributes{
		Authenticated: ev.User.Username != "",
		User:          ev.User.Username,
		Groups:        ev.User.Groups,
		Verb:          ev.Verb,
		Path:          pathOf(ev.RequestURI),
	}
	if ref := ev.ObjectRef; ref != nil {
		a.ResourceRequest = true
		a.APIGroup = ref.APIGroup
		a.Resource = ref.Resource
		a.Subresource = ref.Subresource
		a.Namespace = ref.Namespace
		a.Name = ref.Name
	}
	return a
}

// pathOf returns the decoded path of a request URI (see AttributesOf).
func pathOf(requestURI string) string {
	p := requestURI
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if strings.IndexByte(p, '%') >= 0 {
		if u, err := url.PathUnescape(p); err == nil {
			p = u
		}
	}
	return p
}
