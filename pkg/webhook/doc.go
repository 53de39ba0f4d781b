// Package webhook receives kube-apiserver's audit webhook: HTTPS POSTs of
// an audit.k8s.io EventList, which it writes, one event per line, to a
// durable spool that the agent then tails like the audit log.
//
// # What the sender does
//
// kube-apiserver's webhook backend (k8s.io/apiserver
// plugin/pkg/audit/webhook/webhook.go, processEvents) POSTs each batch as
// a JSON EventList, {"kind":"EventList","apiVersion":"audit.k8s.io/v1",
// "metadata":{},"items":[...]}, whose items carry no kind or apiVersion,
// through a client-go REST client built from the kubeconfig given by
// --audit-webhook-config-file. Any 2xx answer is success. Any error,
// whatever the status, is retried (retryOnError there, which replaces
// pkg/util/webhook's DefaultShouldRetry "regardless of its nature") with
// exponential back-off: --audit-webhook-initial-backoff (default 10s),
// factor 1.5, five steps (pkg/util/webhook/webhook.go,
// DefaultRetryBackoffWithInitialDelay). Inside each attempt client-go
// itself waits out a Retry-After on a 429 or 5xx answer and tries again
// (k8s.io/client-go/rest/with_retry.go, checkWait). When the back-off runs
// out, the batch is dropped: kube-apiserver logs a one-line summary of each
// event (pkg/audit/metrics.go, HandlePluginError) and counts them in
// apiserver_audit_error_total. In batch mode (the default, plugin/pkg/audit/buffered)
// several batches can be in flight at once.
//
// # What the receiver guarantees
//
//   - 200 means durable: every event of the batch was handed, as one JSON
//     line each, to the spool in a single Append, and Append returned nil
//     only after writing and syncing them. Nothing is answered 200 before.
//   - A batch is all or nothing: one Append call per batch, and a refused
//     batch wrote nothing, so kube-apiserver's retry of it cannot lose or
//     split it (a retry after a lost 200, or after a time-out during an
//     Append that went through, spools the batch twice: duplicates, never loss).
//   - Each spooled line is the item's own bytes, key order, numbers and
//     escapes kept, with kind and apiVersion inserted first when missing,
//     so it is what the apiserver's log backend would have written
//     (plugin/pkg/audit/log/backend.go; Event's TypeMeta comes first in
//     pkg/apis/audit/v1/types.go). Only an item holding raw line breaks
//     (pretty-printed JSON) is compacted. The items' content is not
//     judged: an item that is an object but not a valid Event is spooled,
//     and the reader of the spool reports it, rather than refusing its whole
//     batch and so losing the valid events beside it.
//
// # Answers
//
// Every refusal is counted by its reason (see [Reasons] and [Stats]) and
// answered with a short plain-text "reason: explanation" that never quotes
// the request (client-go puts it in the apiserver's error log):
//
//	200 accepted                {"accepted":N}
//	401 no_client_cert, no_token     no credentials presented
//	403 bad_client_cert, bad_token   credentials presented and refused
//	405 method                  only POST (Allow: POST)
//	415 content_type            Content-Type not JSON, or a Content-Encoding
//	413 too_large               body over max_body_bytes
//	400 bad_body, read_error    not an EventList (the reason says where), or the body could not be read
//	429 spool_full              the log server is behind; Retry-After: retry_after
//	503 spool_error             the spool could not write; Retry-After: retry_after
//
// Since kube-apiserver retries every refusal the same way, a 4xx is not
// final for it: a misconfigured sender's batches are retried through the
// back-off and then dropped, which its log and metrics show. A 429 or 503
// with Retry-After makes client-go wait before each retry, which stretches
// the time a batch survives while the spool is full or failing.
//
// # Authentication
//
// A client certificate signed by client_ca_file, a bearer token equal to
// the content of token_file, or both (then both are required). The TLS
// handshake only asks for the certificate (tls.RequestClientCert); it is
// verified in the handler, once per connection, so that a wrong
// certificate gets an HTTP answer and a count instead of a failed handshake.
// Authentication comes first: nothing of the request is read or judged
// before it passes. The token is compared in constant time and never
// logged or echoed. [Receiver.Reload] re-reads the certificate, key,
// client CA bundle and token (SIGHUP), keeping the current ones when any
// fails to load.
package webhook
