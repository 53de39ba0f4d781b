package audit

import (
	"encoding/json"
	"errors"
	"fmt"
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
// Invalid UTF-8 inside strings is replaced with U+FFFD. Keys are matched like
// encoding/json does (case-insensitively, the last of duplicate keys wins); do
// not rely on either. Most lines are read by a decoder written for the event
// schema (decode.go); the others by encoding/json, which gives the same result.
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
	if !decode(line, ev) {
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
// boundary) with "..." appended when cut.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", cutUTF8(s, maxQuoted))
}

// capString cuts s to 4*maxQuoted bytes on a UTF-8 boundary.
func capString(s string) string {
	if len(s) <= 4*maxQuoted {
		return s
	}
	return cutUTF8(s, 4*maxQuoted) + "..."
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not end
// inside a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
