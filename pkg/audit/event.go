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
//   - requestObject and responseObject are kept as raw JSON, never decoded.
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

// Bounds on the storage reset keeps for the next Parse: a line with an
// unusually large text does not pin that memory for good.
const (
	keepText = 64 << 10
	keepStrs = 1024
)

// reset clears ev for the next Parse. It keeps the backing arrays of slices,
// the maps and the decoder's storage, so parsing many lines into one Event
// allocates nothing in the steady state. RequestObject and ResponseObject
// are dropped, not kept: after the fast decoder they share the memory of
// the previous line, which encoding/json must not append into.
func (ev *Event) reset() {
	groups := ev.User.Groups[:0]
	extra := ev.User.Extra
	clear(extra)
	ips := ev.SourceIPs[:0]
	ann := ev.Annotations
	clear(ann)
	text, strs := ev.text[:0], ev.strs[:0]
	if cap(text) > keepText {
		text = nil
	}
	if cap(strs) > keepStrs {
		strs = nil
	}
	clear(strs[:cap(strs)]) // no stale references to old text blocks
	imp := UserInfo{Groups: ev.spare.impersonated.Groups[:0], Extra: ev.spare.impersonated.Extra}
	clear(imp.Extra)
	*ev = Event{
		User:        UserInfo{Groups: groups, Extra: extra},
		SourceIPs:   ips,
		Annotations: ann,
		text:        text,
		strs:        strs,
	}
	ev.spare.impersonated = imp
}
