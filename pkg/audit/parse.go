package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// ParseError tells why a line is not a valid audit event.
type ParseError struct {
	// Reason is a short human explanation, such as "not a JSON object",
	// "invalid JSON at byte 17: unexpected end of JSON input" or "missing auditID".
	// It is at most a few hundred bytes long, whatever the input.
	Reason string
	// Err is the underlying decoder error, if any.
	Err error
}

// Error returns "invalid audit event: " followed by Reason.
func (e *ParseError) Error() string { return "invalid audit event: " + e.Reason }

// Unwrap returns the underlying decoder error, if any.
func (e *ParseError) Unwrap() error { return e.Err }

// maxQuoted bounds how much of a foreign value a Reason quotes.
const maxQuoted = 64

// maxExcerpt bounds how much of the line a Reason quotes to show where the
// fast decoder gave up.
const maxExcerpt = 24

// maxFallbackLine is the longest line Parse decodes with encoding/json when
// the fast decoder (decode.go) gives up on it. encoding/json needs several
// times the line's size: a string with escapes is unquoted into a new
// buffer and then copied into a Go string; a string of invalid UTF-8 costs
// about ten times its size, as each invalid byte becomes the 3 bytes of
// U+FFFD in a buffer grown by doubling (Go's encoding/json, decode.go
// unquoteBytes and literalStore); an object key of invalid UTF-8 costs
// about 24 times its size, as it is also case-folded to be matched to a
// field (decode.go object, fold.go foldName). A line of 1 MiB can thus
// cost some 25 MiB, once; a longer line that needs encoding/json is
// refused instead, so that one line costs at most about its own size again
// (what the fast decoder needs).
const maxFallbackLine = 1 << 20

// MaxKeptElements bounds how many elements of arrays and maps Parse keeps
// from a line over maxFallbackLine (1 MiB), all of them together. Each
// element kept costs a string header (16 bytes) or a map entry, more than
// the 3 bytes that "", takes in the line, so a long line made of empty
// strings would otherwise cost several times its size. Past the bound,
// elements are checked and counted (Event.Omitted), not kept. A line of
// kube-apiserver has a few dozen; one with a thousand group names is
// unusual.
const MaxKeptElements = 16384

// wireEvent is what encoding/json decodes a line into: the Event itself, with the
// timestamps shadowed by strings so that Parse can report a bad time by field name
// and accept "" and null like apimachinery's MicroTime does.
type wireEvent struct {
	*Event
	RequestReceivedTimestamp *string `json:"requestReceivedTimestamp"`
	StageTimestamp           *string `json:"stageTimestamp"`
	Timestamp                *string `json:"timestamp"`
}

// Parse decodes one audit log line (without its newline) into ev, which it resets
// first, so one Event can be reused for every line.
//
// What ev holds after Parse is valid until the next Parse into ev: its strings
// and slices share storage that Parse reuses, and RequestObject and
// ResponseObject may share line's memory, so line must not be modified while
// they are used. Copy what must outlive that (strings.Clone, bytes.Clone).
// In exchange the steady state allocates nothing.
//
// A nil error guarantees that ev.AuditID and ev.Stage are non-empty (see the
// package documentation for the full contract). Any other outcome is a
// [*ParseError]; ev is then reset and holds no data.
//
// Leading and trailing JSON whitespace (including a trailing '\r') is allowed.
// Keys are matched like encoding/json does (case-insensitively, the last of
// duplicate keys wins); do not rely on either. Most lines are read by a
// decoder written for the event schema (decode.go); the others by
// encoding/json, which gives the same result, but only up to 1 MiB: a longer
// line that needs encoding/json (a key written twice or in another letter
// case, a null inside an array, a code that is not an integer, invalid UTF-8
// in a map key, ...) gets a [*ParseError] that says so. From a line over
// 1 MiB, Parse keeps at most MaxKeptElements elements of its arrays and maps
// in all, the first ones in the line (a map entry whose key is already kept
// is updated, as encoding/json does); the others are checked as JSON and
// counted in ev.Omitted, so the event's other fields are all there.
//
// Invalid UTF-8 inside a string value is kept as it is: ev's strings may
// hold it. kube-apiserver never writes any (it encodes with encoding/json,
// whose Marshal writes each invalid byte as U+FFFD), so only a damaged or
// forged line has some. Replacing each invalid byte with U+FFFD, as
// encoding/json's Unmarshal does, would triple the size of such a string.
// Whoever writes ev's strings out should replace each invalid byte with
// U+FFFD: encoding/json's Marshal does, and so does the GELF encoder
// (pkg/gelf), whose messages are then byte for byte what they would be from
// encoding/json's decoding. Map keys (annotations, user.extra) are always
// valid UTF-8.
func Parse(line []byte, ev *Event) error {
	ev.reset()
	if err := parse(line, ev); err != nil {
		ev.reset()
		return err
	}
	return nil
}

func parse(line []byte, ev *Event) error {
	first := firstNonSpace(line)
	switch {
	case first < 0:
		return &ParseError{Reason: "empty line"}
	case line[first] != '{':
		return &ParseError{Reason: "not a JSON object"}
	}
	keep := math.MaxInt
	if len(line) > maxFallbackLine {
		keep = MaxKeptElements
	}
	if stop, ok := decode(line, ev, keep); !ok {
		if len(line) > maxFallbackLine {
			return refused(line, stop)
		}
		ev.reset()
		if err := decodeJSON(line, ev); err != nil {
			return err
		}
	}
	if ev.RequestReceivedTimestamp.IsZero() {
		ev.RequestReceivedTimestamp = ev.Timestamp
	}

	if ev.Kind != "" && ev.Kind != KindEvent {
		return &ParseError{Reason: fmt.Sprintf("kind is %s, want %q", quote(ev.Kind), KindEvent)}
	}
	if ev.APIVersion != "" && !acceptedAPIVersion(ev.APIVersion) {
		return &ParseError{Reason: fmt.Sprintf("apiVersion is %s, want %s, v1beta1 or v1alpha1",
			quote(ev.APIVersion), APIVersionV1)}
	}
	if ev.AuditID == "" {
		return &ParseError{Reason: "missing auditID"}
	}
	if ev.Stage == "" {
		return &ParseError{Reason: "missing stage"}
	}
	return nil
}

// decodeJSON decodes line into the reset ev with encoding/json: the slow
// path, and the reference the fast decoder is checked against.
func decodeJSON(line []byte, ev *Event) error {
	w := wireEvent{Event: ev}
	if err := json.Unmarshal(line, &w); err != nil {
		return decodeError(err)
	}
	if string(ev.RequestObject) == "null" {
		ev.RequestObject = nil
	}
	if string(ev.ResponseObject) == "null" {
		ev.ResponseObject = nil
	}
	var err error
	if ev.RequestReceivedTimestamp, err = parseTime("requestReceivedTimestamp", w.RequestReceivedTimestamp); err != nil {
		return err
	}
	if ev.StageTimestamp, err = parseTime("stageTimestamp", w.StageTimestamp); err != nil {
		return err
	}
	if ev.Timestamp, err = parseTime("timestamp", w.Timestamp); err != nil {
		return err
	}
	return nil
}

// refused is the error for a line over maxFallbackLine that the fast decoder
// gave up on at stop. It costs no memory in proportion to the line: when the
// line is not valid JSON, json.Unmarshal returns the syntax error before it
// decodes anything (Go's encoding/json, decode.go Unmarshal calls checkValid
// first), so nothing is decoded into the empty struct.
func refused(line []byte, stop refusal) *ParseError {
	if !json.Valid(line) {
		return decodeError(json.Unmarshal(line, &struct{}{}))
	}
	excerpt := line[stop.at:min(len(line), stop.at+maxExcerpt+1)]
	return &ParseError{Reason: fmt.Sprintf(
		"line of %d bytes needs encoding/json (%s, at byte %d: %s), which Parse runs only on lines up to %d bytes",
		len(line), stop.why, stop.at, quoteN(string(excerpt), maxExcerpt), maxFallbackLine)}
}

func acceptedAPIVersion(v string) bool {
	for _, a := range acceptedAPIVersions {
		if v == a {
			return true
		}
	}
	return false
}

// firstNonSpace returns the index of the first byte of line that is not JSON
// whitespace, or -1.
func firstNonSpace(line []byte) int {
	for i, c := range line {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return i
		}
	}
	return -1
}

// parseTime parses a MicroTime (or v1beta1 Time). Absent, null and "" give the
// zero time, like apimachinery's MicroTime.UnmarshalJSON.
func parseTime(field string, s *string) (time.Time, error) {
	if s == nil || *s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return time.Time{}, &ParseError{
			Reason: fmt.Sprintf("invalid %s %s: want an RFC 3339 time", field, quote(*s)),
			Err:    err,
		}
	}
	return t.UTC(), nil
}

// decodeError turns an encoding/json error into a *ParseError.
func decodeError(err error) *ParseError {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return &ParseError{Reason: fmt.Sprintf("invalid JSON at byte %d: %s", syn.Offset, syn.Error()), Err: err}
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		field := strings.TrimPrefix(typ.Field, "Event.")
		if field == "" {
			field = "event"
		}
		return &ParseError{
			Reason: fmt.Sprintf("wrong type for %s: got %s, want %s", field, capString(typ.Value), jsonType(typ.Type)),
			Err:    err,
		}
	}
	return &ParseError{Reason: "invalid JSON: " + capString(err.Error()), Err: err}
}

// jsonType names the JSON type a Go type decodes from.
func jsonType(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	default:
		return t.String()
	}
}

// quote returns s as a Go-quoted string, cut to maxQuoted bytes (on a UTF-8
// boundary) with "..." appended when cut. The result is valid UTF-8, even
// when s is not (%q escapes invalid bytes).
func quote(s string) string { return quoteN(s, maxQuoted) }

// quoteN is quote with a cut at n bytes.
func quoteN(s string, n int) string {
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", cutUTF8(s, n))
}

// capString cuts s to 4*maxQuoted bytes on a UTF-8 boundary.
func capString(s string) string {
	if len(s) <= 4*maxQuoted {
		return s
	}
	return cutUTF8(s, 4*maxQuoted) + "..."
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not end
// inside a UTF-8 sequence. It backs up at most utf8.UTFMax-1 bytes: a longer
// run of continuation bytes is invalid UTF-8 anyway, and is cut anywhere.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for k := 0; k < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(s[n]); k++ {
		n--
	}
	return s[:n]
}
