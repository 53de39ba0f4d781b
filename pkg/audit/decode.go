package audit

import (
	"time"

	"github.com/audittail/audittail/internal/jsonbytes"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The fast path of Parse: a decoder written for the audit event schema. It
// reads the line once, from left to right, without reflection, and stores
// what it decodes in storage the Event keeps between calls (Event.text,
// Event.strs, Event.spare), so the steady state allocates nothing.
//
// It only accepts lines it can decode as encoding/json would, with one
// difference: invalid UTF-8 inside a decoded string value is copied as it
// is, where encoding/json writes U+FFFD for each invalid byte (Go's
// encoding/json, decode.go unquoteBytes). That keeps the decoded text at
// most the size of the line. encoding/json's Marshal and the GELF encoder
// (pkg/gelf) write each invalid byte as U+FFFD, so what they write is what
// they would write from encoding/json's result.
//
// On anything else it gives up (decode returns false, with where and why)
// and Parse decodes the line again with encoding/json, which is the
// reference for the result and the source of the error messages; a line
// over maxFallbackLine gets a ParseError instead (see Parse). The lines it
// gives up on are rare in apiserver output:
//   - invalid JSON anywhere, and objects or arrays nested deeper than
//     maxDepth in a skipped value;
//   - a value of the wrong type, a null where encoding/json would store a
//     zero element (in an array or a map), a code that is not an int32
//     written as an integer;
//   - a key of the schema written twice, written with escapes or non-ASCII
//     letters, or in another letter case (encoding/json matches keys case
//     insensitively and merges duplicates);
//   - invalid UTF-8 inside a map key (annotations, user.extra): keys that
//     differ only in invalid bytes are one key for encoding/json;
//   - a timestamp that time.Parse rejects.
//
// Escapes are decoded exactly as encoding/json does, a lone surrogate
// escape (\ud800 not followed by a low surrogate escape) included: it
// becomes U+FFFD and what follows is decoded on its own.
//
// FuzzDecodeMatchesJSON checks that whenever decode accepts a line, it
// produces the same Event as encoding/json, invalid bytes aside.

// maxDepth bounds the nesting of a skipped value (requestObject, unknown
// keys). Deeper values are left to encoding/json, whose limit is 10000.
const maxDepth = 1000

// decoder holds the state of one fast decode.
type decoder struct {
	b     []byte // the line
	i     int    // index of the next byte to read
	ev    *Event
	keyAt int     // index of the key whose value is being read
	stop  refusal // why it gave up, once it has
	left  int     // elements of arrays and maps that may still be kept (see MaxKeptElements)
}

// refusal tells where and why the fast decoder gave up on a line.
type refusal struct {
	at  int    // index in the line of the key or value it could not take
	why string // what it found there, such as "a key written twice"
}

// decode fills the reset ev from line, or returns false and why (ev is then
// in an unspecified state and must be reset). It keeps at most keep
// elements of arrays and maps in all; the others are checked and counted in
// ev.Omitted.
func decode(line []byte, ev *Event, keep int) (refusal, bool) {
	d := decoder{b: line, ev: ev, left: keep}
	d.ws()
	if d.object(d.eventMember) {
		d.ws()
		if d.i == len(d.b) {
			return refusal{}, true
		}
	}
	d.fail(d.i, "JSON the fast decoder leaves to encoding/json")
	return d.stop, false
}

// keep reports whether one more element of an array or map may be kept,
// and counts it.
func (d *decoder) keep() bool {
	if d.left <= 0 {
		return false
	}
	d.left--
	return true
}

// omit skips the value at d (a string, or an array of strings), checking
// its syntax, and counts it in Event.Omitted with the bytes from index from
// (its key, for a map entry) to its end.
func (d *decoder) omit(from int) bool {
	return d.omitKey(from, "")
}

// omitKey is omit for a map entry whose decoded key is key: if key is the
// last string put into Event.text, its bytes are given back, so that the
// keys of omitted entries take no room.
func (d *decoder) omitKey(from int, key string) bool {
	if t := d.ev.text; len(key) > 0 && len(key) <= len(t) && unsafe.StringData(key) == &t[len(t)-len(key)] {
		d.ev.text = t[:len(t)-len(key)]
	}
	var ok bool
	if d.peek() == '"' {
		ok = d.skipString()
	} else {
		ok = d.skip()
	}
	d.ev.Omitted++
	d.ev.OmittedBytes += d.i - from
	return ok
}

// fail records why the decoder gives up at index at, unless it already
// has (the first reason is the one at the source), and returns false.
func (d *decoder) fail(at int, why string) bool {
	if d.stop.why == "" {
		d.stop = refusal{at, why}
	}
	return false
}

// Bits of the event's members, to detect a key written twice.
const (
	mKind = 1 << iota
	mAPIVersion
	mLevel
	mAuditID
	mStage
	mRequestURI
	mVerb
	mUser
	mImpersonatedUser
	mSourceIPs
	mUserAgent
	mObjectRef
	mResponseStatus
	mRequestObject
	mResponseObject
	mRequestReceivedTimestamp
	mStageTimestamp
	mAnnotations
	mTimestamp
)

// eventKeys are the keys of the event that encoding/json would match, for
// the letter-case check of unknown keys.
var eventKeys = []string{"kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb",
	"user", "impersonatedUser", "sourceIPs", "userAgent", "objectRef", "responseStatus",
	"requestObject", "responseObject", "requestReceivedTimestamp", "stageTimestamp", "annotations", "timestamp"}

// eventMember decodes the value of the event's member key.
func (d *decoder) eventMember(key []byte) (uint32, bool) {
	ev := d.ev
	var bit uint32
	ok := true
	switch string(key) {
	case "kind":
		bit = mKind
		ev.Kind, ok = d.word()
	case "apiVersion":
		bit = mAPIVersion
		ev.APIVersion, ok = d.word()
	case "level":
		bit = mLevel
		ev.Level, ok = d.word()
	case "auditID":
		bit = mAuditID
		ev.AuditID, ok = d.text()
	case "stage":
		bit = mStage
		ev.Stage, ok = d.word()
	case "requestURI":
		bit = mRequestURI
		ev.RequestURI, ok = d.text()
	case "verb":
		bit = mVerb
		ev.Verb, ok = d.word()
	case "user":
		bit = mUser
		if !d.null() {
			ok = d.user(&ev.User)
		}
	case "impersonatedUser":
		bit = mImpersonatedUser
		if !d.null() {
			ev.ImpersonatedUser = &ev.spare.impersonated
			ok = d.user(ev.ImpersonatedUser)
		}
	case "sourceIPs":
		bit = mSourceIPs
		ev.SourceIPs, ok = d.texts(ev.SourceIPs)
	case "userAgent":
		bit = mUserAgent
		ev.UserAgent, ok = d.text()
	case "objectRef":
		bit = mObjectRef
		if !d.null() {
			ev.ObjectRef = &ev.spare.objectRef
			ok = d.object(d.objectRefMember)
		}
	case "responseStatus":
		bit = mResponseStatus
		if !d.null() {
			ev.ResponseStatus = &ev.spare.status
			ok = d.object(d.statusMember)
		}
	case "requestObject":
		bit = mRequestObject
		ev.RequestObject, ok = d.raw()
	case "responseObject":
		bit = mResponseObject
		ev.ResponseObject, ok = d.raw()
	case "requestReceivedTimestamp":
		bit = mRequestReceivedTimestamp
		ev.RequestReceivedTimestamp, ok = d.time()
	case "stageTimestamp":
		bit = mStageTimestamp
		ev.StageTimestamp, ok = d.time()
	case "annotations":
		bit = mAnnotations
		ok = d.annotations()
	case "timestamp":
		bit = mTimestamp
		ev.Timestamp, ok = d.time()
	default:
		return 0, d.unknown(key, eventKeys)
	}
	return bit, ok
}

// unknown skips the value of a key that is not in the schema, unless
// encoding/json would match it to one of known (another letter case).
func (d *decoder) unknown(key []byte, known []string) bool {
	for _, k := range known {
		if len(k) == len(key) && asciiEqualFold(k, key) {
			return d.fail(d.keyAt, "a key in another letter case")
		}
	}
	return d.skip()
}

// asciiEqualFold reports whether a and b are equal ignoring the case of
// ASCII letters, as encoding/json compares ASCII keys.
func asciiEqualFold(a string, b []byte) bool {
	for i := range len(a) {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

var userKeys = []string{"username", "uid", "groups", "extra"}

// user decodes a UserInfo object into u.
func (d *decoder) user(u *UserInfo) bool {
	return d.object(func(key []byte) (uint32, bool) {
		var bit uint32
		ok := true
		switch string(key) {
		case "username":
			bit = 1
			u.Username, ok = d.text()
		case "uid":
			bit = 2
			u.UID, ok = d.text()
		case "groups":
			bit = 4
			u.Groups, ok = d.texts(u.Groups)
		case "extra":
			bit = 8
			ok = d.extra(u)
		default:
			return 0, d.unknown(key, userKeys)
		}
		return bit, ok
	})
}

var objectRefKeys = []string{"resource", "namespace", "name", "uid", "apiGroup", "apiVersion", "resourceVersion", "subresource"}

func (d *decoder) objectRefMember(key []byte) (uint32, bool) {
	r := d.ev.ObjectRef
	var bit uint32
	ok := true
	switch string(key) {
	case "resource":
		bit = 1
		r.Resource, ok = d.text()
	case "namespace":
		bit = 2
		r.Namespace, ok = d.text()
	case "name":
		bit = 4
		r.Name, ok = d.text()
	case "uid":
		bit = 8
		r.UID, ok = d.text()
	case "apiGroup":
		bit = 16
		r.APIGroup, ok = d.text()
	case "apiVersion":
		bit = 32
		r.APIVersion, ok = d.text()
	case "resourceVersion":
		bit = 64
		r.ResourceVersion, ok = d.text()
	case "subresource":
		bit = 128
		r.Subresource, ok = d.text()
	default:
		return 0, d.unknown(key, objectRefKeys)
	}
	return bit, ok
}

var statusKeys = []string{"status", "message", "reason", "code"}

func (d *decoder) statusMember(key []byte) (uint32, bool) {
	s := d.ev.ResponseStatus
	var bit uint32
	ok := true
	switch string(key) {
	case "status":
		bit = 1
		s.Status, ok = d.text()
	case "message":
		bit = 2
		s.Message, ok = d.text()
	case "reason":
		bit = 4
		s.Reason, ok = d.text()
	case "code":
		bit = 8
		s.Code, ok = d.int32()
	default:
		return 0, d.unknown(key, statusKeys)
	}
	return bit, ok
}

// annotations decodes the annotations map. Like encoding/json, a key
// written twice keeps its last value.
func (d *decoder) annotations() bool {
	if d.null() {
		return true
	}
	ev := d.ev
	if ev.Annotations == nil {
		ev.Annotations = make(map[string]string, 8)
	}
	return d.mapObject(func(k string, at int) bool {
		if d.peek() != '"' { // null (encoding/json stores "") or another type
			return d.fail(d.i, "an annotation value that is not a string")
		}
		if _, dup := ev.Annotations[k]; !dup && !d.keep() {
			return d.omitKey(at, k)
		}
		v, ok := d.text()
		ev.Annotations[k] = v
		return ok
	})
}

// extra decodes user.extra. The value slices share Event.strs.
func (d *decoder) extra(u *UserInfo) bool {
	if d.null() {
		return true
	}
	if u.Extra == nil {
		u.Extra = make(map[string][]string, 4)
	}
	return d.mapObject(func(k string, at int) bool {
		if d.peek() != '[' { // null (encoding/json stores nil) or another type
			return d.fail(d.i, "a user.extra value that is not an array")
		}
		if _, dup := u.Extra[k]; !dup && !d.keep() {
			return d.omitKey(at, k)
		}
		start := len(d.ev.strs)
		var ok bool
		d.ev.strs, ok = d.texts(d.ev.strs)
		vs := d.ev.strs[start:len(d.ev.strs):len(d.ev.strs)]
		if vs == nil {
			vs = []string{} // like encoding/json for []: empty, not nil
		}
		u.Extra[k] = vs
		return ok
	})
}

// object decodes an object of the schema, calling member for each key
// with d at the start of its value. The keys must be plain ASCII without
// escapes. member returns the bit of the key (0 for a key outside the
// schema), so that a key written twice is refused.
func (d *decoder) object(member func(key []byte) (uint32, bool)) bool {
	if d.peek() != '{' {
		return d.fail(d.i, "a value that is not an object")
	}
	var seen uint32
	return d.members(func() bool {
		at := d.i
		key, ok := d.key()
		if !ok {
			if d.peek() == '"' {
				return d.fail(at, "a key with escapes or non-ASCII characters")
			}
			return false
		}
		if !d.colon() {
			return false
		}
		d.keyAt = at
		bit, ok := member(key)
		if !ok {
			return false
		}
		if seen&bit != 0 {
			return d.fail(at, "a key written twice")
		}
		seen |= bit
		return true
	})
}

// mapObject decodes an object that is a map, calling member for each
// decoded key, and the index of the key, with d at the start of its value.
func (d *decoder) mapObject(member func(key string, at int) bool) bool {
	return d.members(func() bool {
		if d.peek() != '"' {
			return false
		}
		at := d.i
		key, ok := d.str(true)
		return ok && d.colon() && member(key, at)
	})
}

// members decodes '{' [member {',' member}] '}', whitespace allowed
// around every token; member reads one key and its value.
func (d *decoder) members(member func() bool) bool {
	if !d.consume('{') {
		return false
	}
	d.ws()
	if d.consume('}') {
		return true
	}
	for {
		if !member() {
			return false
		}
		d.ws()
		if !d.consume(',') {
			return d.consume('}')
		}
		d.ws()
	}
}

// colon reads the ':' after a key and the whitespace around it.
func (d *decoder) colon() bool {
	d.ws()
	if !d.consume(':') {
		return false
	}
	d.ws()
	return true
}

// ws skips JSON whitespace.
func (d *decoder) ws() {
	for d.i < len(d.b) && d.b[d.i] <= ' ' {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end of the line.
func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// consume reads c if it is the next byte.
func (d *decoder) consume(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// null reads a null literal if it comes next.
func (d *decoder) null() bool {
	if len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// key reads a key of the schema: a string of plain ASCII without escapes.
// It returns the bytes between the quotes, which alias the line.
// On failure d.i stays at the key.
func (d *decoder) key() ([]byte, bool) {
	if d.peek() != '"' {
		return nil, false
	}
	start := d.i + 1
	i := start + jsonbytes.PlainLen(d.b[start:])
	if i >= len(d.b) || d.b[i] != '"' {
		return nil, false
	}
	d.i = i + 1
	return d.b[start:i], true
}

// scanString finds the closing quote of a string whose content starts at
// b[i]. It reports whether the content has escapes (not checked here) and
// bytes of multi-byte UTF-8 sequences (not checked either); ok is false at
// a control character or when b ends first.
func scanString(b []byte, i int) (end int, escaped, high, ok bool) {
	for i < len(b) {
		i += jsonbytes.PlainLen(b[i:])
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i, escaped, high, true
		case c == '\\':
			escaped = true
			i += 2 // an escaped quote does not end the string
		case c >= 0x80:
			high = true
			i++
		default: // a control character
			return i, escaped, high, false
		}
	}
	return len(b), escaped, high, false
}

// text reads a string (or null, which leaves a string field empty, as
// encoding/json does) and returns it decoded. The string lives in
// Event.text; see Parse for how long it stays valid. Invalid UTF-8 is
// copied as it is (see the top of this file).
func (d *decoder) text() (string, bool) { return d.str(false) }

// str is text, for a map key when key is set: a key with invalid UTF-8 is
// refused, since encoding/json would make it another key.
func (d *decoder) str(key bool) (string, bool) {
	if d.null() {
		return "", true
	}
	start := d.i
	if !d.consume('"') {
		return "", d.fail(start, "a value that is not a string")
	}
	end, escaped, high, ok := scanString(d.b, d.i)
	if !ok {
		return "", false
	}
	raw := d.b[d.i:end]
	d.i = end + 1
	if key && high && !utf8.Valid(raw) {
		return "", d.fail(start, "invalid UTF-8 in a map key")
	}
	if len(raw) == 0 {
		return "", true
	}
	ev := d.ev
	if cap(ev.text)-len(ev.text) < len(raw) {
		// A new block; the strings already made point into the old one,
		// which stays alive as long as they do. Blocks of up to keepText,
		// which reset keeps, grow by doubling, so that the steady state
		// is reached. A larger block, which reset drops, is sized to what
		// the rest of the line can still need (decoding never makes text
		// longer), so that one long string costs its size, not twice it.
		n := max(2*cap(ev.text), 1024)
		if n > keepText {
			n = min(n, len(raw)+len(d.b)-d.i)
		}
		ev.text = make([]byte, 0, max(n, len(raw)))
	}
	at := len(ev.text)
	if !escaped {
		ev.text = append(ev.text, raw...)
	} else if ev.text, ok = unescape(ev.text, raw); !ok {
		return "", false
	}
	if len(ev.text) == at {
		return "", true
	}
	return unsafe.String(&ev.text[at], len(ev.text)-at), true
}

// word is text for the fields with a few known values (kind, apiVersion,
// level, stage, verb): a known value is returned as a constant, which
// stays valid after the next Parse; others are in Event.text as usual.
func (d *decoder) word() (string, bool) {
	s, ok := d.text()
	switch s {
	case KindEvent:
		return KindEvent, ok
	case APIVersionV1:
		return APIVersionV1, ok
	case APIVersionV1beta1:
		return APIVersionV1beta1, ok
	case LevelMetadata:
		return LevelMetadata, ok
	case LevelRequest:
		return LevelRequest, ok
	case LevelRequestResponse:
		return LevelRequestResponse, ok
	case StageRequestReceived:
		return StageRequestReceived, ok
	case StageResponseStarted:
		return StageResponseStarted, ok
	case StageResponseComplete:
		return StageResponseComplete, ok
	case StagePanic:
		return StagePanic, ok
	}
	for _, v := range verbs {
		if s == v {
			return v, ok
		}
	}
	return s, ok
}

// verbs are the Kubernetes API verbs, and the lower-case HTTP methods of
// non-resource requests.
var verbs = [...]string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
	"proxy", "post", "put", "head", "options"}

// unescape appends the decoded content of a JSON string to dst, as Go's
// encoding/json decode.go unquoteBytes does but for invalid UTF-8, which it
// copies as it is. Decoding never makes text longer (an escape of 6 bytes
// gives at most 3, a pair of 12 gives 4), so it never grows dst beyond
// len(raw). It refuses invalid escapes.
func unescape(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(raw) {
			return dst, false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			dst = append(dst, raw[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return dst, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A high half followed by the escape of a low half is one
				// character. Anything else is a lone half: it becomes
				// U+FFFD and what follows is decoded on its own.
				r2 := rune(-1)
				if len(raw)-i >= 6 && raw[i] == '\\' && raw[i+1] == 'u' {
					if lo, ok := hex4(raw[i+2:]); ok {
						r2 = lo
					}
				}
				if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
					r = pair
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, false
		}
		i += 2
	}
	return dst, true
}

// hex4 decodes the 4 hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// texts reads an array of strings (or null) and appends its elements to
// dst: to the reset field for sourceIPs and groups, to Event.strs for the
// values of user.extra.
func (d *decoder) texts(dst []string) ([]string, bool) {
	if d.null() {
		return dst, true
	}
	if !d.consume('[') {
		return dst, d.fail(d.i, "a value that is not an array")
	}
	d.ws()
	if d.consume(']') {
		return dst, true
	}
	for {
		if d.peek() != '"' { // null (encoding/json stores "") or another type
			return dst, d.fail(d.i, "an array element that is not a string")
		}
		if !d.keep() {
			if !d.omit(d.i) {
				return dst, false
			}
			d.ws()
			if !d.consume(',') {
				return dst, d.consume(']')
			}
			d.ws()
			continue
		}
		s, ok := d.text()
		if !ok {
			return dst, false
		}
		if len(dst) == cap(dst) && len(dst) >= keepListCap {
			// A long array: grow once to hold the rest of it. Growing by
			// append's factor (1.25 for a large slice, Go's runtime
			// slice.go nextslicecap) would allocate about five times the
			// final size in all, and an array of "" is 3 bytes of the
			// line for each 16-byte string. The growth is at least
			// append's, for Event.strs, which many short arrays fill.
			// (make and copy rather than slices.Grow: under the race
			// detector, the compiler keeps the temporary make of
			// append(s, make(...)...), Go's cmd/compile walk/assign.go
			// isAppendOfMake.)
			grown := make([]string, len(dst), len(dst)+1+min(max(d.countStrings(), len(dst)/4), d.left))
			copy(grown, dst)
			dst = grown
		}
		dst = append(dst, s)
		d.ws()
		if !d.consume(',') {
			return dst, d.consume(']')
		}
		d.ws()
	}
}

// countStrings counts the strings that follow in the array being read,
// stopping at anything else (its end, a null, a syntax error). It moves
// nothing, and only sizes a slice.
func (d *decoder) countStrings() int {
	c := decoder{b: d.b, i: d.i}
	n := 0
	for {
		c.ws()
		if !c.consume(',') {
			return n
		}
		c.ws()
		if !c.consume('"') {
			return n
		}
		end, _, _, ok := scanString(c.b, c.i)
		if !ok {
			return n
		}
		n++
		c.i = end + 1
	}
}

// int32 reads an integer that fits an int32 (or null, which leaves the
// field zero). Fractions and exponents are left to encoding/json.
func (d *decoder) int32() (int32, bool) {
	if d.null() {
		return 0, true
	}
	at := d.i
	neg := d.consume('-')
	start := d.i
	var n int64
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' && d.i-start < 11 {
		n = n*10 + int64(d.b[d.i]-'0')
		d.i++
	}
	digits := d.i - start
	if digits == 0 || digits > 10 || digits > 1 && d.b[start] == '0' {
		return 0, d.fail(at, "a code that is not an int32 integer")
	}
	if c := d.peek(); c == '.' || c == 'e' || c == 'E' || c >= '0' && c <= '9' {
		return 0, d.fail(at, "a code that is not an int32 integer")
	}
	if neg {
		n = -n
	}
	if n < -1<<31 || n > 1<<31-1 {
		return 0, d.fail(at, "a code that is not an int32 integer")
	}
	return int32(n), true
}

// time reads a MicroTime: null and "" are the zero time, like
// apimachinery's MicroTime.UnmarshalJSON; anything else must be RFC 3339.
func (d *decoder) time() (time.Time, bool) {
	at := d.i
	if d.peek() != '"' && d.peek() != 'n' {
		return time.Time{}, d.fail(at, "a timestamp that is not a string")
	}
	s, ok := d.text()
	if !ok || s == "" {
		return time.Time{}, ok
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, d.fail(at, "a timestamp that is not RFC 3339")
	}
	return t.UTC(), true
}

// raw reads any JSON value and returns its bytes, which alias the line
// (requestObject, responseObject). null gives nil.
func (d *decoder) raw() ([]byte, bool) {
	if d.null() {
		return nil, true
	}
	start := d.i
	if !d.skip() {
		return nil, false
	}
	return d.b[start:d.i:d.i], true
}

// skip reads one JSON value of any type, checking its syntax as strictly
// as encoding/json does. It is a loop over a stack of the open containers
// rather than a recursion, because it reads most of the bytes of an event
// with bodies (requestObject, responseObject).
func (d *decoder) skip() bool {
	var stack [32]byte // '{' or '[' for each open container
	open := stack[:0]
	for {
		// A value.
		d.ws()
		switch c := d.peek(); {
		case c == '{' || c == '[':
			if len(open) >= maxDepth {
				return d.fail(d.i, "objects or arrays nested too deep")
			}
			d.i++
			d.ws()
			if d.consume(c + 2) { // '}' is '{'+2, ']' is '['+2
				break
			}
			open = append(open, c)
			if c == '{' && !d.memberKey() {
				return false
			}
			continue
		case c == '"':
			if !d.skipString() {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if !d.skipNumber() {
				return false
			}
		case c == 't':
			if !d.literal("true") {
				return false
			}
		case c == 'f':
			if !d.literal("false") {
				return false
			}
		case !d.null():
			return false
		}
		// After a value: the next member or element, or the end of
		// containers.
		for {
			if len(open) == 0 {
				return true
			}
			d.ws()
			top := open[len(open)-1]
			if d.consume(',') {
				if top == '{' && !d.memberKey() {
					return false
				}
				break
			}
			if !d.consume(top + 2) {
				return false
			}
			open = open[:len(open)-1]
		}
	}
}

// memberKey reads the key of an object member in a skipped value and the
// colon after it.
func (d *decoder) memberKey() bool {
	d.ws()
	return d.peek() == '"' && d.skipString() && d.colon()
}

func (d *decoder) literal(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// skipString reads a string, checking its escapes. Like encoding/json's
// scanner, it does not check the UTF-8 of a skipped string.
func (d *decoder) skipString() bool {
	end, escaped, _, ok := scanString(d.b, d.i+1)
	if !ok {
		return false
	}
	if escaped && !validEscapes(d.b[d.i+1:end]) {
		return false
	}
	d.i = end + 1
	return true
}

// validEscapes reports whether every backslash in the content of a string
// starts a valid JSON escape.
func validEscapes(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+1 >= len(raw) {
			return false
		}
		switch raw[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i++
		case 'u':
			if _, ok := hex4(raw[i+2:]); !ok {
				return false
			}
			i += 5
		default:
			return false
		}
	}
	return true
}

// skipNumber reads a number with JSON's grammar:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func (d *decoder) skipNumber() bool {
	d.consume('-')
	switch {
	case d.consume('0'):
	case d.digits() == 0:
		return false
	}
	if d.consume('.') && d.digits() == 0 {
		return false
	}
	if d.consume('e') || d.consume('E') {
		if !d.consume('+') {
			d.consume('-')
		}
		if d.digits() == 0 {
			return false
		}
	}
	return true
}

// digits reads [0-9]* and returns how many it read.
func (d *decoder) digits() int {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i - start
}
