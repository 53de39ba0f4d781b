package gelf

// Fields derived from an event's metadata for security searches: the kind of
// user, the trusted peer address, the command of an exec, the authorization
// decision, impersonation and deprecated APIs (see the package doc). Nothing
// here reads requestObject or responseObject.

import (
	"strings"
	"unicode/utf8"

	"github.com/audittail/audittail/pkg/audit"
)

// Identities, from k8s.io/apiserver pkg/authentication/user/user.go
// (Anonymous, AllUnauthenticated, NodesGroup),
// pkg/authentication/serviceaccount/util.go (ServiceAccountUsernamePrefix)
// and kubernetes pkg/auth/nodeidentifier/default.go (nodeUserNamePrefix).
const (
	anonymousUser        = "system:anonymous"
	unauthenticatedGroup = "system:unauthenticated"
	serviceAccountPrefix = "system:serviceaccount:"
	nodeUserPrefix       = "system:node:"
	nodesGroup           = "system:nodes"
	systemPrefix         = "system:"
)

// Audit annotations, from k8s.io/apiserver pkg/endpoints/filters/authorization.go
// (decision: "allow" or "forbid") and pkg/endpoints/metrics/metrics.go
// (deprecated: "true"; removed release: "<major>.<minor>").
const (
	decisionAnnotation       = "authorization.k8s.io/decision"
	deprecatedAnnotation     = "k8s.io/deprecated"
	removedReleaseAnnotation = "k8s.io/removed-release"
)

// userKind is the class of the authenticated user (_user_kind).
type userKind uint8

const (
	kindUnauthenticated userKind = iota
	kindAnonymous
	kindServiceAccount
	kindNode
	kindSystem
	kindUser
)

// userKindFields are the whole _user_kind fields, by userKind.
var userKindFields = [...]string{
	kindUnauthenticated: `,"_user_kind":"unauthenticated"`,
	kindAnonymous:       `,"_user_kind":"anonymous"`,
	kindServiceAccount:  `,"_user_kind":"serviceaccount"`,
	kindNode:            `,"_user_kind":"node"`,
	kindSystem:          `,"_user_kind":"system"`,
	kindUser:            `,"_user_kind":"user"`,
}

// classifyUser returns the kind of u and, for a service account, its
// namespace and name (a, b), for a node its name (a).
//
//   - unauthenticated: an empty username (the apiserver writes user:{} when
//     authentication failed);
//   - anonymous: system:anonymous, or any user in the group
//     system:unauthenticated (the anonymous authenticator gives both:
//     k8s.io/apiserver pkg/authentication/request/anonymous/anonymous.go);
//   - serviceaccount: system:serviceaccount:<namespace>:<name>, the rest
//     splitting at ':' into exactly two non-empty parts (SplitUsername in
//     k8s.io/apiserver pkg/authentication/serviceaccount/util.go);
//   - node: system:node:<name> in the group system:nodes, which is what the
//     Node authorizer takes for a node (kubernetes
//     pkg/auth/nodeidentifier/default.go);
//   - system: any other name starting with "system:" (system:kube-scheduler,
//     system:apiserver, and names of the forms above that do not qualify);
//   - user: anything else.
func classifyUser(u *audit.UserInfo) (kind userKind, a, b string) {
	// This runs for every event: "system:" (7 bytes) is compared inline,
	// and the longer prefixes only after it.
	name := u.Username
	if name == "" {
		return kindUnauthenticated, "", ""
	}
	if hasGroup(u.Groups, unauthenticatedGroup) {
		return kindAnonymous, "", ""
	}
	if len(name) < len(systemPrefix) || name[:len(systemPrefix)] != systemPrefix {
		return kindUser, "", ""
	}
	switch rest := name[len(systemPrefix):]; {
	case rest == anonymousUser[len(systemPrefix):]:
		return kindAnonymous, "", ""
	case len(rest) >= len(serviceAccountPrefix)-len(systemPrefix) &&
		rest[:len(serviceAccountPrefix)-len(systemPrefix)] == serviceAccountPrefix[len(systemPrefix):]:
		rest = rest[len(serviceAccountPrefix)-len(systemPrefix):]
		if i := strings.IndexByte(rest, ':'); i > 0 && i < len(rest)-1 && strings.IndexByte(rest[i+1:], ':') < 0 {
			return kindServiceAccount, rest[:i], rest[i+1:]
		}
	case len(rest) >= len(nodeUserPrefix)-len(systemPrefix) &&
		rest[:len(nodeUserPrefix)-len(systemPrefix)] == nodeUserPrefix[len(systemPrefix):] &&
		hasGroup(u.Groups, nodesGroup):
		return kindNode, name[len(nodeUserPrefix):], ""
	}
	return kindSystem, "", ""
}

// hasGroup reports whether g (not empty) is one of groups.
func hasGroup(groups []string, g string) bool {
	for _, x := range groups {
		// Comparing the last bytes first skips the call to compare
		// system:serviceaccounts, as long, with system:unauthenticated.
		if len(x) == len(g) && x[len(x)-1] == g[len(g)-1] && x == g {
			return true
		}
	}
	return false
}

// impersonationField writes _impersonation, "<user> as <impersonated user>",
// when the request impersonated a user (the user reads "<unauthenticated>"
// when empty, as in short_message).
func (e *Encoder) impersonationField(dst []byte, ev *audit.Event, b budget) []byte {
	u := ev.ImpersonatedUser
	if u == nil || u.Username == "" {
		return dst
	}
	who := ev.User.Username
	if who == "" {
		who = "<unauthenticated>"
	}
	return list(e, dst, "_impersonation", []string{who, u.Username}, " as ", b)
}

// peerIP returns the last entry of ips when it is an IP address: the
// address of the connection kube-apiserver received (SourceIPs in
// k8s.io/apimachinery pkg/util/net/http.go lists the X-Forwarded-For
// addresses, then X-Real-Ip, which the client can set, and always ends with
// the remote address).
func peerIP(ips []string) string {
	if len(ips) > 0 && validIP(ips[len(ips)-1]) {
		return ips[len(ips)-1]
	}
	return ""
}

// decisionField writes _authz_decision = v; the two values kube-apiserver
// writes are appended whole.
func (e *Encoder) decisionField(dst []byte, v string, b budget) []byte {
	switch v {
	case "allow":
		return append(dst, `,"_authz_decision":"allow"`...)
	case "forbid":
		return append(dst, `,"_authz_decision":"forbid"`...)
	}
	return e.str(dst, "_authz_decision", v, b)
}

// podStreamFields writes the query parameters of pods/exec (_requestURI_command,
// _requestURI_container), pods/attach (_requestURI_container) and
// pods/portforward (_requestURI_ports) requests: the fields of
// PodExecOptions, PodAttachOptions and PodPortForwardOptions (k8s.io/api
// core/v1 types.go) that kube-apiserver decodes from the URL query. In core
// mode (truncation step 3) only the command is written.
func (e *Encoder) podStreamFields(dst []byte, ev *audit.Event, b budget, core bool) []byte {
	ref := ev.ObjectRef
	if ref == nil || ref.Resource != "pods" || ref.APIGroup != "" || ref.Subresource == "" {
		return dst
	}
	_, q, ok := strings.Cut(ev.RequestURI, "?")
	if !ok || q == "" {
		return dst
	}
	switch ref.Subresource {
	case "exec":
		// Every command= value, in order: the argv of the command.
		dst = e.queryField(dst, "_requestURI_command", q, "command", ' ', true, b)
		if !core {
			dst = e.queryField(dst, "_requestURI_container", q, "container", 0, false, b)
		}
	case "attach":
		if !core {
			dst = e.queryField(dst, "_requestURI_container", q, "container", 0, false, b)
		}
	case "portforward":
		if !core {
			// Every ports= value, joined with ',', which is also how a
			// single value lists several ports (Convert_Slice_string_To_Slice_int32
			// in k8s.io/apimachinery pkg/runtime/conversion.go).
			dst = e.queryField(dst, "_requestURI_ports", q, "ports", ',', true, b)
		}
	}
	return dst
}

// queryField writes ,"name":"v" for the value v of the parameter param in the
// URL query q (without its '?'), decoded as kube-apiserver decodes it: as
// net/url.ParseQuery does (pairs separated by '&', a pair holding ';' or an
// invalid %-escape dropped, '+' read as a space, keys decoded too), and
// then, for a string option, the first value (Convert_Slice_string_To_string
// in k8s.io/apimachinery pkg/runtime/conversion.go). With all, v is every
// value, in order, separated by sep.
//
// The decoded value is never held whole: only the bytes b can let through
// are kept, in e.query, and the escaped length of the rest is counted, so
// the work is bounded by q and the memory by b.
//
// A byte of q outside ASCII that is not part of a valid UTF-8 sequence
// reads as U+FFFD, as the encoder sends it, before any decoding: so a %-escape
// next to it cannot make a different character of it (see Guarantees in the
// package doc).
func (e *Encoder) queryField(dst []byte, name, q, param string, sep byte, all bool, b budget) []byte {
	s := querySink{buf: e.query[:0], keep: min(b.val, b.out) + 2*utf8.UTFMax}
	found := false
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if !queryKeyIs(k, param) || !validEscapes(v) {
			continue
		}
		if found {
			s.add(sep)
		}
		found = true
		s.unescape(v)
		if !all {
			break
		}
	}
	e.query = s.buf
	if len(s.buf) == 0 {
		return dst
	}
	dst = key(dst, name)
	dst = append(dst, '"')
	dst, n := appendEscaped(dst, s.buf, &b)
	if n < len(s.buf) {
		e.noteCut(escapedLen(s.buf[n:]) + s.lost + escapedLen(s.over[:s.nover]))
	}
	return append(dst, '"')
}

// querySink receives decoded bytes: it keeps the first keep of them in buf,
// and only counts the escaped length of the others.
type querySink struct {
	buf     []byte
	keep    int
	spilled bool     // buf is full: bytes go to over
	over    [64]byte // bytes past buf not counted yet
	nover   int
	lost    int // escaped length of the bytes past buf counted so far
}

func (s *querySink) add(c byte) {
	if !s.spilled {
		if len(s.buf) < s.keep {
			s.buf = append(s.buf, c)
			return
		}
		// buf ends where no UTF-8 sequence goes through, so that what it
		// holds and what is counted add up (escapedLen reads a sequence
		// whole). It still holds at least keep-utf8.UTFMax bytes.
		cut := seqBoundary(s.buf, len(s.buf)-1)
		s.nover = copy(s.over[:], s.buf[cut:])
		s.buf = s.buf[:cut]
		s.spilled = true
	}
	if s.nover == len(s.over) {
		cut := seqBoundary(s.over[:], len(s.over)-1)
		s.lost += escapedLen(s.over[:cut])
		s.nover = copy(s.over[:], s.over[cut:])
	}
	s.over[s.nover] = c
	s.nover++
}

// unescape adds v, a query component with valid escapes, decoded.
func (s *querySink) unescape(v string) {
	for i := 0; i < len(v); {
		switch c := v[i]; {
		case c == '%':
			s.add(unhex(v[i+1])<<4 | unhex(v[i+2]))
			i += 3
		case c == '+':
			s.add(' ')
			i++
		case c < utf8.RuneSelf:
			s.add(c)
			i++
		default:
			size := utf8SeqLen(v, i)
			if size == 0 {
				for j := range len(replacement) {
					s.add(replacement[j])
				}
				i++
				continue
			}
			for j := range size {
				s.add(v[i+j])
			}
			i += size
		}
	}
}

// queryKeyIs reports whether the query key raw decodes to want (false when
// raw has an invalid escape, as net/url then drops the pair).
func queryKeyIs(raw, want string) bool {
	j := 0
	for i := 0; i < len(raw); j++ {
		c := raw[i]
		switch c {
		case '%':
			if i+2 >= len(raw) || !ishex(raw[i+1]) || !ishex(raw[i+2]) {
				return false
			}
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 3
		case '+':
			c = ' '
			i++
		default:
			i++
		}
		if j >= len(want) || want[j] != c {
			return false
		}
	}
	return j == len(want)
}

// validEscapes reports whether every '%' of s starts a %XX escape.
func validEscapes(s string) bool {
	for i := strings.IndexByte(s, '%'); i >= 0; {
		if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
			return false
		}
		s = s[i+3:]
		i = strings.IndexByte(s, '%')
	}
	return true
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
