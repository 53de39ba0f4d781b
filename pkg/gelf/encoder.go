package gelf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/audittail/audittail/pkg/audit"
)

// Record is one line read from the audit log.
type Record struct {
	Line          []byte       // the raw line, without its newline (may be a prefix if LineTruncated)
	Log           string       // the log the line came from, shipped as _log; "" for none (an agent of one log)
	Event         *audit.Event // the parsed event; nil when ParseErr != nil
	ParseErr      error        // why Line is not a valid event
	Source        string       // file the line came from (for flagged messages)
	Offset        int64        // byte offset of the line's start in that file
	Partial       bool         // a fragment left at the end of a rotated file (no newline)
	LineTruncated bool         // the reader cut the line at its max_line_bytes
	LineSize      int64        // the line's full size in the file (>= len(Line))
}

// Result tells what Encode had to do.
type Result struct {
	// Truncated is true when something was cut to respect MaxMessageBytes or
	// MaxFieldBytes; the message then carries _truncated_bool and _original_size_int.
	Truncated bool
	// OriginalSize is the size in bytes the message would have had without any
	// cut; it is the size of the message returned when Truncated is false.
	OriginalSize int
}

// Encoder turns records into GELF messages. It keeps scratch buffers between
// calls, so it is not safe for concurrent use: use one Encoder per goroutine.
// It keeps no reference to a Record or its Event once Encode returns (what it
// caches, the field names of recent keys, it copies), so the caller may reuse
// their memory.
// The zero Encoder is usable and behaves like NewEncoder(Config{}).
type Encoder struct {
	cfg Config
	now func() time.Time // the clock for records without a timestamp; tests replace it

	// Scratch space reused by every Encode.
	short       []byte            // short_message before escaping
	annotations []entry[string]   // the event's annotations, sorted
	extra       []entry[[]string] // the user's extra, sorted
	names       []byte            // dynamic field names of the current map, back to back
	nameEnds    []int             // end of each name in names
	stripped    []byte            // full_message without the request and response bodies
	query       []byte            // a decoded query parameter, at most what its budget lets through
	levels      []int             // caps tried by truncation step 2

	// Field names of recent annotation and user.extra keys.
	annotationNames, extraNames nameCache

	// stream holds the token (Config.Stream) for SetStream; nil: Config.Stream.
	stream atomic.Pointer[string]

	// State of the message being written.
	tok  string // the stream token, loaded once per message
	lost int    // escaped bytes left out by cuts
	cut  bool   // something was cut
}

// SetStream replaces the LDP stream token (_X-OVH-TOKEN; "" sends none)
// for the messages encoded from now on. It is safe to call while another
// goroutine encodes (token rotation on SIGHUP). The token is validated
// like Config.Stream; the error never contains it.
func (e *Encoder) SetStream(token string) error {
	if !validToken(token) {
		return fmt.Errorf("gelf.stream: must be at most %d printable ASCII characters, without spaces, quotes or backslashes (value not shown)", maxStreamBytes)
	}
	e.stream.Store(&token)
	return nil
}

// Stream returns the token in use.
func (e *Encoder) Stream() string {
	if p := e.stream.Load(); p != nil {
		return *p
	}
	return e.cfg.Stream
}

// NewEncoder returns an Encoder for cfg. cfg is normally already defaulted and
// validated; NewEncoder applies the defaults again, sets Host from os.Hostname
// when empty, and returns an error if the result is not valid.
func NewEncoder(cfg Config) (*Encoder, error) {
	cfg.SetDefaults()
	if cfg.Host == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("gelf: resolve host name: %w", err)
		}
		cfg.Host = h
	}
	if cfg.Host == "" {
		return nil, errors.New("gelf: host is empty and os.Hostname returned an empty name")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gelf: invalid config: %w", err)
	}
	return &Encoder{cfg: cfg, now: time.Now}, nil
}

// init makes a zero Encoder usable.
func (e *Encoder) init() {
	cfg := Config{}
	cfg.SetDefaults()
	if h, err := os.Hostname(); err == nil && checkText(h, maxHostBytes) == nil && h != "" {
		cfg.Host = h
	} else {
		cfg.Host = "localhost"
	}
	e.cfg = cfg
	e.now = time.Now
}

// Config returns the configuration in use, defaulted, with Host resolved.
func (e *Encoder) Config() Config { return e.cfg }

// Host returns the GELF host field sent with every message (Config.Host, or
// the name os.Hostname gave when it was empty).
func (e *Encoder) Host() string { return e.cfg.Host }

// Sizes used by the truncation steps.
const (
	maxShortBytes  = 512 // short_message value
	maxShortPart   = 128 // one part of short_message
	maxShortURI    = 256 // the request URI in short_message
	maxAnnotations = 32
	maxExtra       = 16
	maxKeyName     = 128 // sanitised key part of a dynamic name
	coreFieldBytes = 256 // most core fields in step 3
	coreSmallBytes = 64  // _stage, _verb, _audit_level in step 3
	coreLongBytes  = 512 // _source_file in step 3
	minFullDivisor = 4   // step 2 keeps full_message if it gets max/4 bytes

	fullPrefix    = `,"full_message":"`
	fullOverhead  = len(fullPrefix) + 1
	trailerPrefix = `,"_truncated_bool":"true","_original_size_int":`
	trailerMax    = len(trailerPrefix) + 19 + 1 // 19 digits of an int64, then '}'
)

// longSteps are the caps of the long strings tried by step 2, after MaxFieldBytes.
var longSteps = [...]int{4096, 1024, 256}

// plan says how one pass writes the fields.
type plan struct {
	field budget // every additional string field
	long  budget // the long strings (see the package doc)
	core  bool   // step 3: core fields only
}

// Encode appends one GELF message for r to dst (no framing byte) and returns it.
// The message is always valid JSON, at most MaxMessageBytes, never empty
// short_message; a record is never dropped. See the package documentation for
// the mapping and the truncation order.
func (e *Encoder) Encode(dst []byte, r *Record) ([]byte, Result) {
	return e.EncodeLimit(dst, r, 0)
}

// EncodeLimit is Encode with a smaller cap for this one message: limit
// bytes, raised to MinMaxMessageBytes and lowered to MaxMessageBytes (0
// means MaxMessageBytes). It is for a transport that refuses a message
// (for example one that does not fit 128 UDP chunks once compressed): the
// same record is encoded again, cut in the documented order.
func (e *Encoder) EncodeLimit(dst []byte, r *Record, limit int) ([]byte, Result) {
	if e.now == nil {
		e.init()
	}
	defer e.release()
	e.tok = e.Stream()
	base := len(dst)
	if limit <= 0 || limit > e.cfg.MaxMessageBytes {
		limit = e.cfg.MaxMessageBytes
	}
	limit = max(limit, MinMaxMessageBytes)
	bad := r.ParseErr != nil || r.Event == nil
	var full []byte
	if bad || e.cfg.FullMessage != FullMessageNone {
		full = r.Line
	}

	// Pass 0: everything, strings cut to MaxFieldBytes.
	e.lost, e.cut = 0, false
	fb := budget{e.cfg.MaxFieldBytes, unlimited}
	p := plan{field: fb, long: fb}
	out := e.head(dst, r, bad, &p)
	headLen := len(out) - base
	out, fullCut := e.appendFull(out, full, limit-headLen-1-fullOverhead)
	orig := len(out) - base + 1 + e.lost
	if !fullCut && !e.cut && len(out)-base+1 <= limit {
		return append(out, '}'), Result{OriginalSize: orig}
	}
	if !fullCut && len(out)-base+trailerMax <= limit {
		return finish(out, orig)
	}

	// Step 1: full_message without requestObject and responseObject.
	//
	// Only the first limit+utf8.UTFMax bytes of the stripped line are
	// copied: whatever the size of the line, every later use of full reads
	// less. Each step writes at most room < limit escaped bytes of it, and
	// each byte is at least one escaped byte, so a cut prefix never fits
	// where the whole would not; deciding on the character at an index
	// below limit looks at no more than utf8.UTFMax bytes from there; and
	// step 2 needs escapedLen(full) only up to limit/minFullDivisor. (What
	// noteCut counts from here on is not used: orig is already known.)
	if !bad && full != nil && (len(r.Event.RequestObject) > 0 || len(r.Event.ResponseObject) > 0) {
		if s, ok := stripBodies(e.stripped[:0], full, limit+utf8.UTFMax); ok {
			e.stripped = s
			full = s
			room := limit - headLen - trailerMax - fullOverhead
			if room >= 0 {
				out, fullCut = e.appendFull(out[:base+headLen], full, room)
				if !fullCut {
					return finish(out, orig)
				}
			}
		}
	}

	// Step 2: cut full_message, then the long strings, progressively.
	levels := append(e.levels[:0], e.cfg.MaxFieldBytes)
	for _, l := range longSteps {
		if l < e.cfg.MaxFieldBytes {
			levels = append(levels, l)
		}
	}
	e.levels = levels
	minFull := min(escapedLen(full), limit/minFullDivisor)
	overhead := fullOverhead
	if len(full) == 0 {
		overhead = 0
	}
	for i, l := range levels {
		p.long = budget{l, unlimited}
		out = e.head(out[:base], r, bad, &p)
		room := limit - (len(out) - base) - trailerMax - overhead
		if room >= minFull || room >= 0 && i == len(levels)-1 {
			out, _ = e.appendFull(out, full, room)
			return finish(out, orig)
		}
	}

	// Step 3: core fields, then whatever full_message still fits.
	p = plan{field: budget{coreFieldBytes, coreFieldBytes}, core: true}
	out = e.head(out[:base], r, bad, &p)
	if room := limit - (len(out) - base) - trailerMax - overhead; room >= 0 {
		out, _ = e.appendFull(out, full, room)
		return finish(out, orig)
	}
	// Unreachable with a validated Config (the core fields fit in
	// MinMaxMessageBytes); kept so that the cap holds whatever happens.
	return finish(e.minimal(out[:base], r, bad), orig)
}

// Bounds on the scratch space an Encoder keeps for the next Encode, so that
// one unusual record does not pin memory for good: the sorted entries of the
// annotations and user.extra maps (a real event has a handful; 256 entries
// are 10 KiB at most), short_message, and the stripped full_message. The
// other scratch slices need no bound: names and nameEnds hold at most
// maxAnnotations names of at most maxKeyName bytes plus a prefix and
// suffix, levels at most 1+len(longSteps) caps, and query at most
// MaxMaxFieldBytes+2*utf8.UTFMax bytes (see queryField).
const (
	keepEntries  = 256
	keepShort    = 4 << 10
	keepStripped = 1 << 20
)

// release drops references and oversized scratch space after Encode.
func (e *Encoder) release() {
	e.annotations = keptEntries(e.annotations)
	e.extra = keptEntries(e.extra)
	if cap(e.stripped) > keepStripped {
		e.stripped = nil
	}
	if cap(e.short) > keepShort {
		e.short = nil
	}
}

// keptEntries returns s cleared, for reuse, or nil if its capacity is over
// keepEntries.
func keptEntries[V any](s []entry[V]) []entry[V] {
	if cap(s) > keepEntries {
		return nil
	}
	clear(s)
	return s[:0]
}

func finish(out []byte, orig int) ([]byte, Result) {
	out = append(out, trailerPrefix...)
	out = strconv.AppendInt(out, int64(orig), 10)
	return append(out, '}'), Result{Truncated: true, OriginalSize: orig}
}

// noteCut records that n escaped bytes were left out.
func (e *Encoder) noteCut(n int) {
	e.cut = true
	e.lost += n
}

// head writes the message up to, not including, full_message.
func (e *Encoder) head(dst []byte, r *Record, bad bool, p *plan) []byte {
	var (
		short []byte
		t     time.Time
		level int
	)
	if bad {
		short = e.badShort(r)
		t = e.now()
		level = 4
	} else {
		short = e.eventShort(r.Event)
		t = r.Event.Time()
		if t.IsZero() {
			t = e.now()
		}
		level = eventLevel(r.Event)
	}

	dst = append(dst, `{"version":"1.1","host":`...)
	dst = appendQuoted(dst, e.cfg.Host)
	dst = append(dst, `,"short_message":"`...)
	sb := budget{maxShortBytes, unlimited}
	if p.core {
		sb.out = maxShortBytes
	}
	dst, _ = appendEscaped(dst, short, &sb)
	dst = append(dst, `","timestamp":`...)
	dst = appendTimestamp(dst, t)
	dst = append(dst, `,"level":`...)
	dst = append(dst, byte('0'+level))
	if e.tok != "" {
		dst = append(dst, `,"_X-OVH-TOKEN":`...)
		dst = appendQuoted(dst, e.tok)
	}
	dst = append(dst, `,"_agent":"audittail"`...)
	if e.cfg.Cluster != "" {
		dst = append(dst, `,"_cluster":`...)
		dst = appendQuoted(dst, e.cfg.Cluster)
	}
	if r.Log != "" {
		dst = append(dst, `,"_log":`...)
		dst = appendQuoted(dst, r.Log)
	}
	if !bad {
		if r.Event.Omitted > 0 {
			// Elements the parser did not keep (a line over 1 MiB with
			// thousands of them): the message is flagged as cut.
			e.noteCut(r.Event.OmittedBytes)
		}
		if p.core {
			dst = e.coreEventFields(dst, r.Event, p)
		} else {
			dst = e.eventFields(dst, r.Event, p)
		}
	}
	if bad || r.Partial || r.LineTruncated {
		dst = e.flagFields(dst, r, bad, p)
	}
	return dst
}

// appendFull appends the full_message field with at most room escaped bytes of
// src. It reports whether src was cut, and counts what was left out.
func (e *Encoder) appendFull(dst, src []byte, room int) ([]byte, bool) {
	if len(src) == 0 {
		return dst, false
	}
	if room <= 0 {
		e.noteCut(fullOverhead + escapedLen(src))
		return dst, true
	}
	start := len(dst)
	dst = append(dst, fullPrefix...)
	b := budget{unlimited, room}
	dst, n := appendEscaped(dst, src, &b)
	if n == 0 {
		e.noteCut(fullOverhead + escapedLen(src))
		return dst[:start], true
	}
	dst = append(dst, '"')
	if n < len(src) {
		e.noteCut(escapedLen(src[n:]))
		return dst, true
	}
	return dst, false
}

// minimal is the last-resort message.
func (e *Encoder) minimal(dst []byte, r *Record, bad bool) []byte {
	dst = append(dst, `{"version":"1.1","host":`...)
	dst = appendQuoted(dst, cutUTF8(e.cfg.Host, 64))
	dst = append(dst, `,"short_message":"audit record too large to encode","timestamp":`...)
	dst = appendTimestamp(dst, e.now())
	dst = append(dst, `,"level":4`...)
	if e.tok != "" {
		dst = append(dst, `,"_X-OVH-TOKEN":`...)
		dst = appendQuoted(dst, e.tok)
	}
	if !bad {
		p := plan{field: budget{coreSmallBytes, coreSmallBytes}}
		dst = e.str(dst, "_auditID", r.Event.AuditID, p.field)
	}
	return dst
}

// key appends ,"name": for a name that needs no escaping.
func key[T ~string | ~[]byte](dst []byte, name T) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

// str appends ,"name":"v" unless v is empty, v cut to b.
func (e *Encoder) str(dst []byte, name string, v string, b budget) []byte {
	return strField(e, dst, name, v, b)
}

func strField[N ~string | ~[]byte](e *Encoder, dst []byte, name N, v string, b budget) []byte {
	if v == "" {
		return dst
	}
	dst = key(dst, name)
	dst = append(dst, '"')
	dst, n := appendEscaped(dst, v, &b)
	if n < len(v) {
		e.noteCut(escapedLen(v[n:]))
	}
	return append(dst, '"')
}

// list appends ,"name":"v1<sep>v2<sep>..." unless the joined value is
// empty. sep needs no escaping.
func list[N ~string | ~[]byte](e *Encoder, dst []byte, name N, vs []string, sep string, b budget) []byte {
	if len(vs) == 0 || len(vs) == 1 && vs[0] == "" {
		return dst
	}
	dst = key(dst, name)
	dst = append(dst, '"')
	for i, v := range vs {
		if i > 0 {
			var n int
			if dst, n = appendEscaped(dst, sep, &b); n < len(sep) {
				e.noteCut(len(sep) - n + joinedLen(vs[i:]) + len(sep)*len(vs[i+1:]))
				break
			}
		}
		var n int
		if dst, n = appendEscaped(dst, v, &b); n < len(v) {
			e.noteCut(escapedLen(v[n:]) + joinedLen(vs[i+1:]) + len(sep)*len(vs[i+1:]))
			break
		}
	}
	return append(dst, '"')
}

// joinedLen is the escaped length of vs, separators excluded.
func joinedLen(vs []string) int {
	n := 0
	for _, v := range vs {
		n += escapedLen(v)
	}
	return n
}

// num appends ,"name":n.
func num(dst []byte, name string, n int64) []byte {
	dst = key(dst, name)
	return strconv.AppendInt(dst, n, 10)
}

// eventFields writes the flattened metadata of a valid event.
func (e *Encoder) eventFields(dst []byte, ev *audit.Event, p *plan) []byte {
	f, l := p.field, p.long
	dst = e.str(dst, "_auditID", ev.AuditID, f)
	dst = e.str(dst, "_stage", ev.Stage, f)
	dst = e.str(dst, "_verb", ev.Verb, f)
	dst = e.str(dst, "_audit_level", ev.Level, f)
	dst = e.str(dst, "_requestURI", ev.RequestURI, l)
	dst = e.str(dst, "_userAgent", ev.UserAgent, l)

	start, lost := len(dst), e.lost
	dst = e.str(dst, "_user_username", ev.User.Username, f)
	// Written whole and as it is: parts of it need no escaping or cut.
	plainUser := e.lost == lost && len(dst)-start == len(`,"_user_username":""`)+len(ev.User.Username)
	dst = e.str(dst, "_user_uid", ev.User.UID, f)
	dst = list(e, dst, "_user_groups", ev.User.Groups, ", ", l)
	kind, a, b := classifyUser(&ev.User)
	dst = append(dst, userKindFields[kind]...)
	switch {
	case kind == kindServiceAccount && plainUser:
		dst = append(append(append(dst, `,"_user_serviceaccount_namespace":"`...), a...), '"')
		dst = append(append(append(dst, `,"_user_serviceaccount_name":"`...), b...), '"')
	case kind == kindServiceAccount:
		dst = e.str(dst, "_user_serviceaccount_namespace", a, f)
		dst = e.str(dst, "_user_serviceaccount_name", b, f)
	case kind == kindNode:
		dst = e.str(dst, "_user_node_name", a, f)
	}
	dst = e.extraFields(dst, ev.User.Extra, l)
	if u := ev.ImpersonatedUser; u != nil {
		dst = e.str(dst, "_impersonatedUser_username", u.Username, f)
		dst = e.str(dst, "_impersonatedUser_uid", u.UID, f)
		dst = list(e, dst, "_impersonatedUser_groups", u.Groups, ", ", l)
		dst = e.impersonationField(dst, ev, f)
	}
	dst = list(e, dst, "_sourceIPs", ev.SourceIPs, ", ", l)
	first := len(ev.SourceIPs) > 0 && validIP(ev.SourceIPs[0])
	if first {
		start, lost = len(dst), e.lost
		dst = e.str(dst, "_source_ip", ev.SourceIPs[0], f)
		if len(ev.SourceIPs) == 1 {
			// The only address is also the peer: copy its value, as cut.
			val := dst[start+len(`,"_source_ip"`):]
			dst = append(append(dst, `,"_peer_ip"`...), val...)
			if e.lost > lost {
				e.noteCut(e.lost - lost)
			}
		}
	}
	if len(ev.SourceIPs) > 1 {
		dst = e.str(dst, "_peer_ip", peerIP(ev.SourceIPs), f)
	}

	if ref := ev.ObjectRef; ref != nil {
		dst = e.str(dst, "_objectRef_resource", ref.Resource, f)
		dst = e.str(dst, "_objectRef_namespace", ref.Namespace, f)
		dst = e.str(dst, "_objectRef_name", ref.Name, f)
		dst = e.str(dst, "_objectRef_uid", ref.UID, f)
		dst = e.str(dst, "_objectRef_apiGroup", ref.APIGroup, f)
		dst = e.str(dst, "_objectRef_apiVersion", ref.APIVersion, f)
		dst = e.str(dst, "_objectRef_resourceVersion", ref.ResourceVersion, f)
		dst = e.str(dst, "_objectRef_subresource", ref.Subresource, f)
		dst = e.podStreamFields(dst, ev, l, false)
	}
	if rs := ev.ResponseStatus; rs != nil {
		if rs.Code != 0 {
			dst = num(dst, "_responseStatus_code_int", int64(rs.Code))
		}
		dst = e.str(dst, "_responseStatus_status", rs.Status, f)
		dst = e.str(dst, "_responseStatus_reason", rs.Reason, f)
		dst = e.str(dst, "_responseStatus_message", rs.Message, l)
	}

	recv, stage := ev.RequestReceivedTimestamp, ev.StageTimestamp
	if validDate(recv) {
		dst = key(dst, "_requestReceivedTimestamp_date")
		dst = appendDate(dst, recv)
	}
	if validDate(stage) {
		dst = key(dst, "_stageTimestamp_date")
		dst = appendDate(dst, stage)
	}
	if !recv.IsZero() && !stage.IsZero() && !stage.Before(recv) {
		dst = key(dst, "_latency_ms_num")
		dst = appendMillis(dst, stage.Sub(recv))
	}
	return e.annotationFields(dst, ev.Annotations, l, f)
}

// coreEventFields writes the event fields kept by step 3.
func (e *Encoder) coreEventFields(dst []byte, ev *audit.Event, p *plan) []byte {
	small := budget{coreSmallBytes, coreSmallBytes}
	dst = e.str(dst, "_auditID", ev.AuditID, p.field)
	dst = e.str(dst, "_stage", ev.Stage, small)
	dst = e.str(dst, "_verb", ev.Verb, small)
	dst = e.str(dst, "_audit_level", ev.Level, small)
	if rs := ev.ResponseStatus; rs != nil && rs.Code != 0 {
		dst = num(dst, "_responseStatus_code_int", int64(rs.Code))
	}
	kind, _, _ := classifyUser(&ev.User)
	dst = append(dst, userKindFields[kind]...)
	dst = e.str(dst, "_peer_ip", peerIP(ev.SourceIPs), small)
	dst = e.decisionField(dst, ev.Annotations[decisionAnnotation], small)
	return e.podStreamFields(dst, ev, p.field, true)
}

// flagFields writes the fields of a flagged record.
func (e *Encoder) flagFields(dst []byte, r *Record, bad bool, p *plan) []byte {
	src := p.field
	if p.core {
		src = budget{coreLongBytes, coreLongBytes}
	}
	if bad {
		dst = e.str(dst, "_parse_error", parseReason(r), p.field)
	}
	dst = e.str(dst, "_source_file", r.Source, src)
	dst = num(dst, "_source_offset_int", r.Offset)
	if r.Partial {
		dst = append(dst, `,"_partial_bool":"true"`...)
	}
	if r.LineTruncated {
		dst = append(dst, `,"_line_truncated_bool":"true"`...)
		dst = num(dst, "_line_size_int", max(r.LineSize, int64(len(r.Line))))
	}
	return dst
}

// parseReason is the reason a record holds no valid event.
func parseReason(r *Record) string {
	if r.ParseErr == nil {
		return "record has no event"
	}
	if pe, ok := r.ParseErr.(*audit.ParseError); ok {
		return pe.Reason
	}
	var pe *audit.ParseError
	if errors.As(r.ParseErr, &pe) {
		return pe.Reason
	}
	return r.ParseErr.Error()
}

// badShort builds the short_message of a record that is not a valid event.
func (e *Encoder) badShort(r *Record) []byte {
	b := e.short[:0]
	switch {
	case r.Partial:
		b = append(b, "partial audit line at end of rotated file"...)
	case r.LineTruncated:
		b = append(b, "audit line too long: "...)
		b = strconv.AppendInt(b, max(r.LineSize, int64(len(r.Line))), 10)
		b = append(b, " bytes, cut at "...)
		b = strconv.AppendInt(b, int64(len(r.Line)), 10)
	default:
		b = append(b, "unparsable audit line: "...)
		b = append(b, cutUTF8(parseReason(r), maxShortBytes)...)
	}
	e.short = b
	return b
}

// eventShort builds the short_message of a valid event.
func (e *Encoder) eventShort(ev *audit.Event) []byte {
	b := appendPart(e.short[:0], ev.Verb, maxShortPart)
	if ref := ev.ObjectRef; ref != nil && ref.Resource != "" {
		b = appendPart(space(b), ref.Resource, maxShortPart)
		if ref.Subresource != "" {
			b = appendPart(append(b, '/'), ref.Subresource, maxShortPart)
		}
		switch {
		case ref.Name != "" && ref.Namespace != "" && !(ref.Resource == "namespaces" && sameText(ref.Namespace, ref.Name)):
			b = appendPart(append(b, ' '), ref.Namespace, maxShortPart)
			b = appendPart(append(b, '/'), ref.Name, maxShortPart)
		case ref.Name != "":
			b = appendPart(append(b, ' '), ref.Name, maxShortPart)
		case ref.Namespace != "":
			b = appendPart(append(b, " in namespace "...), ref.Namespace, maxShortPart)
		}
	} else if ev.RequestURI != "" {
		b = appendPart(space(b), ev.RequestURI, maxShortURI)
	}
	b = append(space(b), "by "...)
	if ev.User.Username != "" {
		b = appendPart(b, ev.User.Username, maxShortPart)
	} else {
		b = append(b, "<unauthenticated>"...)
	}
	if u := ev.ImpersonatedUser; u != nil && u.Username != "" {
		b = appendPart(append(b, " as "...), u.Username, maxShortPart)
	}
	if rs := ev.ResponseStatus; rs != nil && rs.Code != 0 {
		b = strconv.AppendInt(append(b, " -> "...), int64(rs.Code), 10)
	}
	if blank(cutUTF8(b, maxShortBytes)) {
		// Graylog trims short_message and rejects the message when it is blank.
		b = append(b[:0], "audit event"...)
	}
	e.short = b
	return b
}

// blank reports whether b holds only whitespace and control characters, which
// Graylog trims away.
func blank(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			if c > ' ' && c != 0x7F {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if !unicode.IsSpace(r) { // an invalid byte becomes U+FFFD, not blank
			return false
		}
		i += size
	}
	return true
}

func space(b []byte) []byte {
	if len(b) > 0 {
		return append(b, ' ')
	}
	return b
}

// appendPart appends s cut to max bytes, with "..." when cut. Each invalid
// UTF-8 byte of s is written as U+FFFD and counts as its 3 bytes, so the
// part is what it would be from encoding/json's decoding of the line (see
// audit.Parse).
func appendPart(b []byte, s string, max int) []byte {
	if len(s) <= max && utf8.ValidString(s) {
		return append(b, s...)
	}
	start := len(b)
	i := 0
	for i < len(s) && len(b)-start <= max {
		if c := s[i]; c < utf8.RuneSelf {
			b = append(b, c)
			i++
		} else if size := utf8SeqLen(s, i); size > 0 {
			b = append(b, s[i:i+size]...)
			i += size
		} else {
			b = append(b, replacement...)
			i++
		}
	}
	if i == len(s) && len(b)-start <= max {
		return b
	}
	// The cut only depends on the first max+1 bytes, which b holds.
	b = b[:start+len(cutUTF8(b[start:], max))]
	return append(b, "..."...)
}

// sameText reports whether a and b are equal once each invalid UTF-8 byte
// is read as U+FFFD, as encoding/json decodes it.
func sameText(a, b string) bool {
	if a == b {
		return true
	}
	for len(a) > 0 && len(b) > 0 {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) == 0 && len(b) == 0
}

// eventLevel derives the syslog level of a valid event (never 0 or 1).
func eventLevel(ev *audit.Event) int {
	if ev.Stage == audit.StagePanic {
		return 2
	}
	code := 0
	if ev.ResponseStatus != nil {
		code = int(ev.ResponseStatus.Code)
	}
	switch {
	case code >= 500:
		return 3
	case code == 401 || code == 403:
		return 4
	case code >= 400:
		return 5
	case code >= 100 && isWrite(ev.Verb):
		return 5
	}
	return 6
}

func isWrite(verb string) bool {
	switch verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}

func validIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// validDate reports whether t can be written as an ISO 8601 date with a 4-digit year.
func validDate(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}

// appendTimestamp appends t as seconds since the epoch with exactly 6 decimals.
func appendTimestamp(dst []byte, t time.Time) []byte {
	us := t.UnixMicro()
	if us < 0 {
		dst = append(dst, '-')
		us = -us
	}
	dst = strconv.AppendInt(dst, us/1e6, 10)
	dst = append(dst, '.')
	return appendDigits(dst, int(us%1e6), 6)
}

// appendDigits appends v (>= 0) as exactly n digits: zero-padded, and cut to
// its n low digits if longer.
func appendDigits(dst []byte, v, n int) []byte {
	var buf [6]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, buf[:n]...)
}

// appendDate appends t as a quoted ISO 8601 UTC date with milliseconds
// (what t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00") writes).
// The year must be in 1..9999 (see validDate).
func appendDate(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	dst = append(dst, '"')
	dst = append2(append2(dst, year/100), year%100)
	dst = append2(append(dst, '-'), int(month))
	dst = append2(append(dst, '-'), day)
	dst = append2(append(dst, 'T'), hour)
	dst = append2(append(dst, ':'), minute)
	dst = append2(append(dst, ':'), sec)
	dst = append2(append(dst, '.', byte('0'+ms/100)), ms%100)
	return append(dst, 'Z', '"')
}

// append2 appends v (0..99) as two digits.
func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// appendMillis appends d in milliseconds with 3 decimals.
func appendMillis(dst []byte, d time.Duration) []byte {
	us := d.Microseconds()
	dst = strconv.AppendInt(dst, us/1000, 10)
	dst = append(dst, '.')
	return appendDigits(dst, int(us%1000), 3)
}

// annotationFields writes _annotations_<key> for the first maxAnnotations
// keys (values cut to b), then, whatever their rank, _authz_decision,
// _deprecated_bool and _removed_release (cut to f).
func (e *Encoder) annotationFields(dst []byte, m map[string]string, b, f budget) []byte {
	if len(m) == 0 {
		return dst
	}
	e.annotations = sortedEntries(e.annotations[:0], m)
	makeNames(e, &e.annotationNames, "_annotations_", e.annotations, maxAnnotations)
	decision, removed, deprecated := -1, -1, false
	for i, a := range e.annotations {
		switch a.key {
		case decisionAnnotation:
			decision = i
		case deprecatedAnnotation:
			deprecated = a.val == "true"
		case removedReleaseAnnotation:
			removed = i
		}
		if i >= maxAnnotations {
			if a.val != "" {
				e.noteCut(len(`,"":""`) + len("_annotations_") + len(a.key) + escapedLen(a.val))
			}
			continue
		}
		dst = strField(e, dst, e.name(i), a.val, b)
	}
	if decision >= 0 {
		dst = e.decisionField(dst, e.annotations[decision].val, f)
	}
	if deprecated {
		dst = append(dst, `,"_deprecated_bool":"true"`...)
	}
	if removed >= 0 {
		dst = e.str(dst, "_removed_release", e.annotations[removed].val, f)
	}
	return dst
}

// extraFields writes _user_extra_<key> for the first maxExtra keys.
func (e *Encoder) extraFields(dst []byte, m map[string][]string, b budget) []byte {
	if len(m) == 0 {
		return dst
	}
	e.extra = sortedEntries(e.extra[:0], m)
	makeNames(e, &e.extraNames, "_user_extra_", e.extra, maxExtra)
	for i, x := range e.extra {
		vs := x.val
		if i >= maxExtra {
			if len(vs) > 1 || len(vs) == 1 && vs[0] != "" {
				e.noteCut(len(`,"":""`) + len("_user_extra_") + len(x.key) + joinedLen(vs) + 2*(len(vs)-1))
			}
			continue
		}
		dst = list(e, dst, e.name(i), vs, ", ", b)
	}
	return dst
}

// entry is one key and value of a map.
type entry[V any] struct {
	key string
	val V
}

// sortedEntries appends the entries of m to dst, sorted by key.
func sortedEntries[V any](dst []entry[V], m map[string]V) []entry[V] {
	dst = slices.Grow(dst, len(m)) // one allocation at most, however large m is
	for k, v := range m {
		dst = append(dst, entry[V]{k, v})
	}
	slices.SortFunc(dst, func(a, b entry[V]) int { return strings.Compare(a.key, b.key) })
	return dst
}

// name returns the i-th name made by makeNames.
func (e *Encoder) name(i int) []byte {
	start := 0
	if i > 0 {
		start = e.nameEnds[i-1]
	}
	return e.names[start:e.nameEnds[i]]
}

// typedSuffixes are the LDP name suffixes that imply a type.
var typedSuffixes = [...]string{"_int", "_long", "_num", "_float", "_double", "_date", "_bool", "_ip", "_geolocation"}

// makeNames builds the field names of the first n entries (see fieldName),
// with "_2", "_3", ... added on collision.
func makeNames[V any](e *Encoder, cache *nameCache, prefix string, entries []entry[V], n int) {
	e.names, e.nameEnds = e.names[:0], e.nameEnds[:0]
	for i, x := range entries[:min(n, len(entries))] {
		start := len(e.names)
		e.names = append(e.names, cache.name(prefix, x.key)...)
		end := len(e.names)
		for dup := 2; e.nameTaken(start, i); dup++ {
			e.names = strconv.AppendInt(append(e.names[:end], '_'), int64(dup), 10)
		}
		e.nameEnds = append(e.nameEnds, len(e.names))
	}
}

// fieldName returns prefix + the sanitised key: only [A-Za-z0-9_], runs of
// '_' collapsed, trailing '_' trimmed, key part cut to maxKeyName bytes,
// "_str" after a typed suffix.
func fieldName(prefix, key string) string {
	name := make([]byte, 0, len(prefix)+min(len(key), maxKeyName)+len("_str"))
	name = append(name, prefix...)
	for j := 0; j < len(key) && len(name)-len(prefix) < maxKeyName; j++ {
		c := key[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			c = '_'
		}
		if c == '_' && name[len(name)-1] == '_' {
			continue
		}
		name = append(name, c)
	}
	for len(name) > 1 && name[len(name)-1] == '_' {
		name = name[:len(name)-1]
	}
	for _, s := range typedSuffixes {
		if len(name) > len(s) && string(name[len(name)-len(s):]) == s {
			name = append(name, "_str"...)
			break
		}
	}
	return string(name)
}

// nameCache remembers fieldName for the keys of recent events, which mostly
// repeat (authorization.k8s.io/decision, ...), so that each is sanitised once.
// It holds copies of the keys, never the event's strings (the parser may reuse
// their memory for the next event), and is bounded: keys longer than
// maxCachedKey are not kept, and the cache is emptied when it holds
// maxCachedNames names, so unique keys cannot make it grow without end.
type nameCache map[string]string

const (
	maxCachedNames = 256
	maxCachedKey   = 256
)

// name returns fieldName(prefix, key). A cache is used with a single prefix.
func (c *nameCache) name(prefix, key string) string {
	if name, ok := (*c)[key]; ok {
		return name
	}
	name := fieldName(prefix, key)
	if len(key) > maxCachedKey {
		return name
	}
	if *c == nil {
		*c = make(nameCache)
	} else if len(*c) >= maxCachedNames {
		clear(*c)
	}
	(*c)[strings.Clone(key)] = name
	return name
}

// nameTaken reports whether the name being built at names[start:] equals one of
// the first i names.
func (e *Encoder) nameTaken(start, i int) bool {
	cand := e.names[start:]
	for j := range i {
		if string(e.name(j)) == string(cand) {
			return true
		}
	}
	return false
}

// TestMessage appends a GELF message that is not an audit event, for
// `audittail check --send-test`: level 6, the configured host, stream token
// and cluster like every message, short_message naming the agent, and
// _check_id = id so the message can be found on the server (Graylog field
// check_id). It is always valid JSON.
func (e *Encoder) TestMessage(dst []byte, id string, now time.Time) []byte {
	if e.now == nil {
		e.init()
	}
	tok := e.Stream()
	dst = append(dst, `{"version":"1.1","host":`...)
	dst = appendQuoted(dst, e.cfg.Host)
	dst = append(dst, `,"short_message":`...)
	dst = appendQuoted(dst, "audittail check: test message from "+e.cfg.Host+" (not an audit event)")
	dst = append(dst, `,"timestamp":`...)
	dst = appendTimestamp(dst, now)
	dst = append(dst, `,"level":6`...)
	if tok != "" {
		dst = append(dst, `,"_X-OVH-TOKEN":`...)
		dst = appendQuoted(dst, tok)
	}
	dst = append(dst, `,"_agent":"audittail"`...)
	if e.cfg.Cluster != "" {
		dst = append(dst, `,"_cluster":`...)
		dst = appendQuoted(dst, e.cfg.Cluster)
	}
	dst = append(dst, `,"_check_id":`...)
	dst = appendQuoted(dst, id)
	return append(dst, '}')
}
