// Package audit holds the Kubernetes audit event model and the parser for one
// line of an apiserver audit log (the JSON "log" backend, one event per line).
//
// The model follows audit.k8s.io/v1 Event. Lines written as audit.k8s.io/v1beta1
// or v1alpha1 are accepted too: their field names are the same, and the
// deprecated v1beta1 timestamp is used when requestReceivedTimestamp is absent.
//
// Guarantees of [Parse]:
//   - it never panics, whatever the input (invalid UTF-8, NUL bytes, any JSON
//     value, truncated or deeply nested input);
//   - a nil error means the line is one JSON object that decoded with the right
//     types, whose kind (if set) is "Event", whose apiVersion (if set) is
//     [APIVersionV1], [APIVersionV1beta1] or [APIVersionV1alpha1], and whose
//     auditID and stage are non-empty;
//   - any other line gives a [*ParseError] with a short, human reason;
//   - requestObject and responseObject are kept as raw JSON, never decoded;
//   - the decoded strings of a line take at most the line's size, and a line
//     over 1 MiB is never decoded a second time by encoding/json (see Parse).
//
// Invalid UTF-8 inside a string value is kept as it is, not replaced with
// U+FFFD as encoding/json's Unmarshal does (that would triple such a
// string): an Event's strings may hold invalid UTF-8, which whoever writes
// them out should replace with U+FFFD byte by byte, as encoding/json's
// Marshal and pkg/gelf do. kube-apiserver never writes invalid UTF-8, since
// it encodes events with encoding/json; only a damaged or forged line has
// some. See [Parse].
//
// Only the standard library (and the in-repo internal/jsonbytes) is used.
package audit

import (
	"encoding/json"
	"time"
)

// KindEvent is the only accepted value of an event's "kind".
const KindEvent = "Event"

// API versions of the audit.k8s.io group that Parse accepts.
const (
	APIVersionV1       = "audit.k8s.io/v1"
	APIVersionV1beta1  = "audit.k8s.io/v1beta1"
	APIVersionV1alpha1 = "audit.k8s.io/v1alpha1"
)

// acceptedAPIVersions lists the apiVersion values Parse accepts, newest first.
var acceptedAPIVersions = [...]string{APIVersionV1, APIVersionV1beta1, APIVersionV1alpha1}

// Audit levels (Event.Level). The apiserver never writes an event at LevelNone.
const (
	LevelNone            = "None"
	LevelMetadata        = "Metadata"
	LevelRequest         = "Request"
	LevelRequestResponse = "RequestResponse"
)

// Stages of a request (Event.Stage).
const (
	StageRequestReceived  = "RequestReceived"
	StageResponseStarted  = "ResponseStarted"
	StageResponseComplete = "ResponseComplete"
	StagePanic            = "Panic"
)

// Event is one audit.k8s.io/v1 Event, as written by the apiserver log backend.
//
// Field names and JSON keys follow k8s.io/apiserver pkg/apis/audit/v1. Unknown
// keys (v1beta1 "metadata", "authenticationMetadata", responseStatus "details")
// are ignored. When a key is absent or null, strings are empty, pointers nil and
// slices and maps have length 0 (they may be non-nil: Parse reuses them).
type Event struct {
	Kind       string `json:"kind,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`

	// Level is the audit level the policy chose for this request (see LevelMetadata ...).
	Level string `json:"level,omitempty"`
	// AuditID identifies the request; all stages of one request share it.
	// Non-empty after a successful Parse.
	AuditID string `json:"auditID"`
	// Stage is the request stage this event was written at (see StageRequestReceived ...).
	// Non-empty after a successful Parse.
	Stage string `json:"stage"`

	RequestURI string `json:"requestURI,omitempty"`
	// Verb is the Kubernetes verb for resource requests (get, list, create, ...),
	// the lower-case HTTP method for non-resource requests.
	Verb string `json:"verb,omitempty"`
	// User is the authenticated user; it is empty when authentication failed.
	User UserInfo `json:"user"`
	// ImpersonatedUser is set when the request impersonated another user.
	ImpersonatedUser *UserInfo `json:"impersonatedUser,omitempty"`
	// SourceIPs lists the client IPs; all but the last can be set by the client.
	SourceIPs []string `json:"sourceIPs,omitempty"`
	UserAgent string   `json:"userAgent,omitempty"`
	// ObjectRef is set for resource requests (including list and watch).
	ObjectRef *ObjectReference `json:"objectRef,omitempty"`
	// ResponseStatus is absent at the RequestReceived stage.
	ResponseStatus *Status `json:"responseStatus,omitempty"`

	// RequestObject and ResponseObject are the raw JSON bodies (levels Request and
	// RequestResponse). They have length 0 when absent or null, and are never decoded.
	RequestObject  json.RawMessage `json:"requestObject,omitempty"`
	ResponseObject json.RawMessage `json:"responseObject,omitempty"`

	// RequestReceivedTimestamp is when the request reached the apiserver (UTC).
	// Parse fills it from Timestamp when the line has no requestReceivedTimestamp
	// (v1beta1 events of Kubernetes 1.8 and older).
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp,omitzero"`
	// StageTimestamp is when the request reached this stage (UTC); zero when absent.
	StageTimestamp time.Time `json:"stageTimestamp,omitzero"`
	// Annotations are the audit annotations (authorization decision, admission ...).
	Annotations map[string]string `json:"annotations,omitempty"`

	// Timestamp is the deprecated v1beta1/v1alpha1 "timestamp" (second precision,
	// UTC); zero when absent.
	Timestamp time.Time `json:"timestamp,omitzero"`

	// Omitted counts the elements of arrays and maps (sourceIPs, groups,
	// user.extra and its values, annotations) that Parse checked but did
	// not keep, and OmittedBytes the bytes of the line they took: only a
	// line over 1 MiB is cut so, past MaxKeptElements in all (see Parse).
	// Both are 0 for every line up to 1 MiB.
	Omitted      int `json:"-"`
	OmittedBytes int `json:"-"`

	// Storage Parse reuses from one line to the next (see Parse): text holds
	// the decoded strings, strs the elements of the user.extra values, spare
	// what ImpersonatedUser, ObjectRef and ResponseStatus point to.
	text  []byte
	strs  []string
	spare struct {
		impersonated UserInfo
		objectRef    ObjectReference
		status       Status
	}
}

// UserInfo is an authentication/v1 UserInfo.
type UserInfo struct {
	Username string              `json:"username,omitempty"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// ObjectReference names the object a resource request acted on.
type ObjectReference struct {
	Resource        string `json:"resource,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	UID             string `json:"uid,omitempty"`
	APIGroup        string `json:"apiGroup,omitempty"`
	APIVersion      string `json:"apiVersion,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Subresource     string `json:"subresource,omitempty"`
}

// Status is the part of a meta/v1 Status kept in audit events: "details" and
// "metadata" are dropped.
type Status struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Code    int32  `json:"code,omitempty"`
}

// Time returns the time of the event: StageTimestamp, or RequestReceivedTimestamp
// (which Parse fills from the v1beta1 timestamp) when StageTimestamp is zero. It is
// zero when the line carried no timestamp at all.
func (ev *Event) Time() time.Time {
	if !ev.StageTimestamp.IsZero() {
		return ev.StageTimestamp
	}
	return ev.RequestReceivedTimestamp
}

// Bounds on the storage reset keeps for the next Parse, so that one unusual
// line does not cost every later one:
//   - keepText and keepStrs: a line with an unusually large text, or many
//     user.extra values, does not pin that memory for good;
//   - keepMapLen: a Go map keeps all its storage when cleared, and ranging
//     over it visits all of that storage (Go's runtime, internal/runtime/maps
//     map.go (*Map).Clear clears the tables but keeps them). After one line
//     with 100,000 annotations, every later event would cost the encoder a walk
//     over 100,000 slots. A map that held more than keepMapLen entries is
//     dropped instead, and the decoder makes a small one for the next line that
//     needs it. Real events carry a handful of annotations and user.extra keys;
//   - keepListCap: the same for the arrays kept for user.groups,
//     impersonatedUser.groups and sourceIPs, which reset also clears up to
//     their capacity. It is as high as keepStrs because a user can be in
//     hundreds of groups; 1024 strings are 16 KiB.
const (
	keepText    = 64 << 10
	keepStrs    = 1024
	keepMapLen  = 64
	keepListCap = 1024
)

// reset clears ev for the next Parse. It keeps the backing arrays of slices,
// the maps and the decoder's storage, within the bounds above, so parsing
// many lines into one Event allocates nothing in the steady state.
// RequestObject and ResponseObject are dropped, not kept: after the fast
// decoder they share the memory of the previous line, which encoding/json
// must not append into.
//
// The kept arrays are zeroed up to their capacity: encoding/json, when it
// decodes an array into a slice, extends the slice over the old elements and
// leaves an element it decodes from null as it was (Go's encoding/json,
// decode.go array and literalStore), so a stale group or source IP would
// otherwise show through; zeroing also drops references to old text blocks.
func (ev *Event) reset() {
	text, strs := ev.text[:0], ev.strs[:0]
	if cap(text) > keepText {
		text = nil
	}
	if cap(strs) > keepStrs {
		strs = nil
	}
	clear(strs[:cap(strs)]) // no stale references to old text blocks
	imp := UserInfo{Groups: keptList(ev.spare.impersonated.Groups), Extra: keptMap(ev.spare.impersonated.Extra)}
	*ev = Event{
		User:        UserInfo{Groups: keptList(ev.User.Groups), Extra: keptMap(ev.User.Extra)},
		SourceIPs:   keptList(ev.SourceIPs),
		Annotations: keptMap(ev.Annotations),
		text:        text,
		strs:        strs,
	}
	ev.spare.impersonated = imp
}

// keptList returns s emptied and zeroed for reuse, or nil when its capacity
// is over keepListCap.
func keptList(s []string) []string {
	if cap(s) > keepListCap {
		return nil
	}
	s = s[:0]
	clear(s[:cap(s)])
	return s
}

// keptMap returns m cleared for reuse, or nil when it held more than
// keepMapLen entries. Parse only adds to a map between two resets, so the
// length reset sees is the most the map has held since it was made or
// cleared, which is what its storage was sized for.
func keptMap[V any](m map[string]V) map[string]V {
	if len(m) > keepMapLen {
		return nil
	}
	clear(m)
	return m
}
