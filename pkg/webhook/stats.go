package webhook

import (
	"net/http"
	"slices"
	"sync/atomic"
	"time"
)

// Reasons a request is refused, as counted in [Stats].Refused and sent at
// the start of the answer ("reason: explanation").
const (
	ReasonNoClientCert  = "no_client_cert"  // 401: no client certificate while client_ca_file is set
	ReasonBadClientCert = "bad_client_cert" // 403: not signed by client_ca_file, expired, or not for client authentication
	ReasonNoToken       = "no_token"        // 401: no Authorization: Bearer header while token_file is set
	ReasonBadToken      = "bad_token"       // 403: a bearer token other than token_file's
	ReasonMethod        = "method"          // 405: not POST
	ReasonContentType   = "content_type"    // 415: a Content-Type other than application/json, or a Content-Encoding
	ReasonTooLarge      = "too_large"       // 413: a body over max_body_bytes
	ReasonBadBody       = "bad_body"        // 400: not an EventList
	ReasonReadError     = "read_error"      // 400: the body could not be read (the sender went away or was too slow)
	ReasonSpoolFull     = "spool_full"      // 429: the spool is full (the log server is behind)
	ReasonSpoolError    = "spool_error"     // 503: the spool failed to write
)

// reason indexes reasons and statuses.
type reason uint8

const (
	rNoClientCert reason = iota
	rBadClientCert
	rNoToken
	rBadToken
	rMethod
	rContentType
	rTooLarge
	rBadBody
	rReadError
	rSpoolFull
	rSpoolError
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNoClientCert, ReasonBadClientCert, ReasonNoToken, ReasonBadToken, ReasonMethod,
	ReasonContentType, ReasonTooLarge, ReasonBadBody, ReasonReadError, ReasonSpoolFull, ReasonSpoolError,
}

var reasonStatus = [numReasons]int{
	http.StatusUnauthorized, http.StatusForbidden, http.StatusUnauthorized, http.StatusForbidden, http.StatusMethodNotAllowed,
	http.StatusUnsupportedMediaType, http.StatusRequestEntityTooLarge, http.StatusBadRequest, http.StatusBadRequest,
	http.StatusTooManyRequests, http.StatusServiceUnavailable,
}

func (r reason) String() string { return reasonNames[r] }

// Reasons lists every reason a request can be refused for, in a fixed
// order, so that metrics can label them all from the start.
func Reasons() []string { return slices.Clone(reasonNames[:]) }

// Status returns the HTTP status answered for a reason of [Reasons], or 0.
func Status(reason string) int {
	if i := slices.Index(reasonNames[:], reason); i >= 0 {
		return reasonStatus[i]
	}
	return 0
}

// Stats is a snapshot of the receiver's counters, all since New.
type Stats struct {
	Batches uint64 // batches answered 200 (empty ones included)
	Events  uint64 // events in them
	Bytes   uint64 // bytes of JSON lines appended to the spool
	// Refused counts refused requests by reason; every reason of Reasons
	// is present.
	Refused map[string]uint64
	// HandshakeErrors counts failed TLS handshakes: scanners, plain HTTP,
	// senders that do not trust the receiver's certificate.
	HandshakeErrors uint64
	LastAccepted    time.Time // when the last batch was answered 200; zero if none
}

// counters are the receiver's statistics, updated without locks.
type counters struct {
	batches, events, bytes, handshakes atomic.Uint64
	refused                            [numReasons]atomic.Uint64
	lastAccepted                       atomic.Int64 // Unix nanoseconds
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Batches:         c.batches.Load(),
		Events:          c.events.Load(),
		Bytes:           c.bytes.Load(),
		HandshakeErrors: c.handshakes.Load(),
		Refused:         make(map[string]uint64, numReasons),
	}
	for i := range c.refused {
		s.Refused[reasonNames[i]] = c.refused[i].Load()
	}
	if ns := c.lastAccepted.Load(); ns != 0 {
		s.LastAccepted = time.Unix(0, ns)
	}
	return s
}

// every lets one event through per period and counts the others, for
// logs that a sender (or a scanner) could otherwise repeat without end.
type every struct {
	next       atomic.Int64 // Unix nanoseconds before which events are held back
	suppressed atomic.Uint64
}

// allow reports whether the event at now may be logged and, if so, how
// many were held back since the last one that was.
func (e *every) allow(now time.Time, period time.Duration) (ok bool, suppressed uint64) {
	t, next := now.UnixNano(), e.next.Load()
	if t < next || !e.next.CompareAndSwap(next, t+int64(period)) {
		e.suppressed.Add(1)
		return false, 0
	}
	return true, e.suppressed.Swap(0)
}
