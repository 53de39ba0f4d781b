// Package gelf maps one Kubernetes audit log line to one GELF 1.1 message, for
// OVHcloud Logs Data Platform (LDP) and plain Graylog.
//
// The JSON is written by hand, appended to a caller-owned buffer in one escaping
// pass, with no maps or reflection on the path of a valid event. Only the
// standard library and pkg/audit are used.
//
// # Guarantees
//
// For every [Record], [Encoder.Encode] appends exactly one message that:
//   - is valid JSON and valid UTF-8 (invalid input bytes become U+FFFD; '"', '\\'
//     and control characters are escaped; nothing is HTML-escaped);
//   - is at most Config.MaxMessageBytes long (no framing byte is added);
//   - has version "1.1", a non-blank host, a non-empty short_message of at most
//     512 bytes, a numeric timestamp with microseconds and a level in 2..6;
//   - has only field names matching ^_?[A-Za-z0-9_]+$, except _X-OVH-TOKEN, and
//     only string or number values; empty strings are left out;
//   - never sends reserved names (_id, _source, _message, _level, _timestamp,
//     _line, _file, _facility, _version, _host, _short_message, _full_message,
//     _streams, _gl2_*, _X-OVH-CONTENT-SIZE, _X-OVH-TO-FREEZE);
//   - is byte-for-byte deterministic: map keys are sorted;
//   - is the same for an event whose string values hold invalid UTF-8 (which
//     [audit.Parse] keeps as it is) as for that event with U+FFFD in place
//     of each invalid byte (what encoding/json's decoding gives): every cut
//     and comparison reads an invalid byte as the U+FFFD it is sent as. (Map
//     keys from audit.Parse are always valid UTF-8.)
//
// A record is never dropped: a line that is not a valid event, a fragment left
// at the end of a rotated file, and a line the reader cut all produce a flagged
// message instead.
//
// # Mapping of a valid event
//
//   - short_message: "<verb> <resource>[/<subresource>] [<namespace>/]<name> by
//     <user>[ as <impersonated user>] -> <code>", or "<verb> <requestURI> by ..."
//     for non-resource requests. Missing parts are skipped; a list without a name
//     reads "list pods in namespace default"; a namespace reads "delete namespaces
//     foo", not "foo/foo"; an empty user.username (the
//     apiserver writes user:{} when authentication failed) reads
//     "<unauthenticated>". The two or three events of one request share the
//     summary and are told apart by _stage. Each part is cut to 128 bytes (256
//     for the URI), with "...".
//     A summary made only of whitespace reads "audit event".
//   - full_message: the raw line (mode raw) or nothing (mode none).
//   - timestamp: stageTimestamp, else requestReceivedTimestamp, else the v1beta1
//     timestamp, else the current time; seconds with exactly 6 decimals.
//   - level: stage Panic 2; code >= 500 3; 401 or 403 4; other 4xx 5; a
//     create, update, patch, delete or deletecollection with a code in 100..399
//     5; anything else (reads, no response yet) 6.
//   - _auditID, _stage, _verb, _audit_level, _requestURI, _userAgent,
//     _user_username, _user_uid, _user_groups (joined with ", "),
//     _user_extra_<key> (values joined), _impersonatedUser_username/_uid/_groups,
//     _sourceIPs (joined), _source_ip (the first one, only when it parses as an
//     IP address, since LDP types *_ip fields), _objectRef_resource/_namespace/
//     _name/_uid/_apiGroup/_apiVersion/_resourceVersion/_subresource,
//     _responseStatus_code_int (number), _responseStatus_status/_reason/_message,
//     _requestReceivedTimestamp_date and _stageTimestamp_date (ISO 8601 UTC,
//     milliseconds), _latency_ms_num (stage minus received time, when both are
//     set and in order), _annotations_<key>.
//   - _agent "audittail" always; _X-OVH-TOKEN when Config.Stream is set;
//     _cluster when Config.Cluster is set; _log when Record.Log is set
//     (an agent of several inputs: the log's path, or "webhook").
//   - requestObject and responseObject are never turned into fields: they only
//     travel inside full_message.
//
// Fields derived from the metadata, for security searches (never from the
// request or response bodies):
//
//   - _user_kind: the class of user.username: "serviceaccount"
//     (system:serviceaccount:<namespace>:<name>, as SplitUsername in
//     k8s.io/apiserver pkg/authentication/serviceaccount/util.go accepts it),
//     with _user_serviceaccount_namespace and _user_serviceaccount_name;
//     "node" (system:node:<name> in the group system:nodes, what the Node
//     authorizer takes for a node: kubernetes pkg/auth/nodeidentifier/default.go),
//     with _user_node_name; "anonymous" (system:anonymous, or any user in the
//     group system:unauthenticated); "system" (any other name starting with
//     "system:", such as system:kube-scheduler or system:apiserver);
//     "unauthenticated" (an empty username: authentication failed, which
//     only the ResponseStarted event of a 401 records); "user" otherwise.
//     Always sent, so that a search on the field covers every event.
//   - _peer_ip: the last entry of sourceIPs, when it parses as an IP address.
//     kube-apiserver lists the X-Forwarded-For addresses, then X-Real-Ip, both
//     set by whoever sent the request, and ends the list with the address of
//     the connection it received (SourceIPs in k8s.io/apimachinery
//     pkg/util/net/http.go): this one the client cannot choose. It is sent
//     beside _source_ip, also when both are the only entry.
//   - _impersonation: "<user.username> as <impersonatedUser.username>" when
//     the request impersonated a user (an empty user reads
//     "<unauthenticated>", as in short_message).
//   - _requestURI_command, _requestURI_container, _requestURI_ports: for
//     objectRef resource pods of the core group with subresource exec
//     (command and container), attach (container) or portforward (ports),
//     the options kube-apiserver decodes from the query of requestURI
//     (PodExecOptions, PodAttachOptions, PodPortForwardOptions in k8s.io/api
//     core/v1 types.go), decoded as net/url.ParseQuery does: every command=
//     value in order joined with spaces (the argv, so an argument holding a
//     space is not told apart), the first container= value (what
//     Convert_Slice_string_To_string in k8s.io/apimachinery
//     pkg/runtime/conversion.go keeps), every ports= value joined with ','.
//     A raw byte of the query that is not valid UTF-8 reads as U+FFFD before
//     decoding. The decoded value is cut to its budget while it is decoded:
//     it is never held whole.
//   - _authz_decision: the annotation authorization.k8s.io/decision ("allow"
//     or "forbid", from k8s.io/apiserver pkg/endpoints/filters/authorization.go),
//     a copy of _annotations_authorization_k8s_io_decision. The copy is kept
//     because it is short to search for, is sent whatever the rank of the key
//     among more than 32 annotations, and is one of the core fields of step 3.
//     The reason (authorization.k8s.io/reason) gets no copy: it is on
//     almost every event and often over 100 bytes ("RBAC: allowed by
//     ClusterRoleBinding ..."), so a copy would grow most messages; it stays
//     _annotations_authorization_k8s_io_reason.
//   - _deprecated_bool "true" when the annotation k8s.io/deprecated is "true"
//     (the request used a deprecated API version), and _removed_release, the
//     annotation k8s.io/removed-release ("<major>.<minor>"); both annotations
//     come from k8s.io/apiserver pkg/endpoints/metrics/metrics.go, and are
//     also sent as _annotations_* fields.
//   - The pod and node a service account token is bound to, and the
//     token's ID, get no field of their own: they are the user.extra keys
//     authentication.kubernetes.io/pod-name, pod-uid, node-name, node-uid
//     (k8s.io/apiserver pkg/authentication/serviceaccount/util.go) and
//     credential-id (k8s.io/apiserver pkg/authentication/user/user.go:
//     JTI=<id> for a service account token, X509SHA256=<fingerprint> for a
//     client certificate, pkg/authentication/request/x509/x509.go), sent as
//     _user_extra_authentication_kubernetes_io_pod_name, ..._pod_uid,
//     ..._node_name, ..._node_uid and ..._credential_id. Those names do not
//     change: the service account authenticator sets no other user.extra key,
//     so neither the cap of 16 keys nor a collision suffix applies to them;
//     and a copy would add some 100 bytes to every request made with a pod's
//     token.
//
// Dynamic names (_annotations_<key>, _user_extra_<key>) are sanitised: every
// byte outside [A-Za-z0-9_] becomes '_', runs of '_' collapse, trailing '_' are
// trimmed and the key part is cut to 128 bytes. A name ending in an LDP type
// suffix (_int _long _num _float _double _date _bool _ip _geolocation) gets
// "_str" appended, so its string value is not mistyped. Names that still collide
// get "_2", "_3", ... in sorted key order. At most 32 annotations and 16
// user.extra keys are sent (the first ones in sorted key order); the others
// only stay inside full_message.
//
// Every additional string field is cut to Config.MaxFieldBytes on a UTF-8
// boundary. _auditID too, so it is exact for any real audit ID; _X-OVH-TOKEN,
// host and _cluster are bounded by [Config.Validate] instead.
//
// # Records that are not valid events
//
// When Record.ParseErr is set (or Record.Event is nil) the message has level 4,
// the current time, short_message "unparsable audit line: <reason>" (or
// "partial audit line at end of rotated file" for Record.Partial, or "audit line
// too long: <size> bytes, cut at <n>" for Record.LineTruncated), full_message the
// raw bytes in both modes (they are all there is), and _parse_error (the
// [audit.ParseError] reason). Every flagged record, valid or not, also gets
// _source_file, _source_offset_int, and _partial_bool "true" or
// _line_truncated_bool "true" plus _line_size_int.
//
// # Size cap and truncation order
//
// A message that would exceed Config.MaxMessageBytes is cut, never dropped, in
// this order, stopping at the first step that fits:
//
//  1. full_message is rebuilt from the raw line without its top-level
//     requestObject and responseObject members (what the apiserver's own
//     truncate backend drops first).
//  2. full_message is cut to the room left, and if that room is under a quarter
//     of the cap the long strings are cut further, to 4096, 1024 and then 256
//     bytes: _requestURI, _userAgent, _responseStatus_message, annotation and
//     user.extra values, _user_groups, _impersonatedUser_groups, _sourceIPs,
//     _requestURI_command, _requestURI_container, _requestURI_ports.
//  3. Only the core fields are kept: version, host, short_message, timestamp,
//     level, _X-OVH-TOKEN, _agent, _cluster, _auditID, _stage, _verb,
//     _audit_level, _responseStatus_code_int, _user_kind, _peer_ip,
//     _authz_decision, _requestURI_command and the flag fields, each cut to
//     at most 512 bytes (_peer_ip and _authz_decision to 64, the command to
//     256), followed by as much of full_message as still fits. short_message
//     keeps who did what, including an impersonated user.
//
// A message that had anything cut (including a field cut to MaxFieldBytes, a
// map key left out, or elements the parser did not keep, audit.Event.Omitted)
// ends with _truncated_bool "true" and _original_size_int, the size in bytes
// the message would have had without any cut (a left-out map key is counted
// with its raw key in place of its sanitised name, elements not kept with
// their bytes in the line).
package gelf
