package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/audittail/audittail/internal/jsonbytes"
)

// The audit API versions an EventList may name, and the one assumed when
// it names none (kube-apiserver's default, --audit-webhook-version).
const (
	apiV1      = "audit.k8s.io/v1"
	apiV1beta1 = "audit.k8s.io/v1beta1"
)

// MaxItems bounds the events of one batch: kube-apiserver sends at most
// --audit-webhook-batch-max-size (default 400), and every item costs the
// receiver memory beyond its bytes.
const MaxItems = 1 << 20

// maxDepth is encoding/json's nesting limit (scanner.go, maxNestingDepth):
// a body it would refuse for depth is refused here too.
const maxDepth = 10000

// bodyError is why a body is not an EventList: the text after "bad_body: ".
type bodyError struct{ msg string }

func (e *bodyError) Error() string { return e.msg }

func badBody(format string, args ...any) *bodyError {
	return &bodyError{fmt.Sprintf(format, args...)}
}

// Flags of an item.
const (
	itemHasKind       = 1 << iota // a member named kind
	itemHasAPIVersion             // a member named apiVersion
	itemHasMembers                // not {}
	itemRawNewline                // a raw '\n' or '\r' (white space between tokens)
)

// span is one item of the list: body[start:end] is the object.
type span struct {
	start, end int
	flags      uint8
}

// listScan checks that a body is an EventList, in one pass over it, and
// records where its items are. Strings are skipped eight bytes at a time
// (jsonbytes.PlainLen); everything else is checked byte by byte against
// RFC 8259's grammar, as strictly as encoding/json.Valid: the two accept
// the same documents, except that listScan also refuses what is not an
// EventList. Like encoding/json, it passes bytes of 0x80 and above in
// strings without checking that they are UTF-8.
//
// A listScan is reused from request to request; it is not safe for
// concurrent use.
type listScan struct {
	b          []byte
	spans      []span
	apiVersion string // apiV1 or apiV1beta1; "" when the list names none
	nl         bool   // a raw line break was skipped since it was last cleared
	semErr     *bodyError
}

// parse checks body and records its items. Syntax errors win over other
// errors (the first of them is reported): a truncated body is reported as
// truncated even if something before the cut was wrong too.
func (s *listScan) parse(body []byte) error {
	*s = listScan{b: body, spans: s.spans[:0]}
	i := s.space(0)
	if i == len(body) {
		return badBody("the body is empty, want an EventList JSON object")
	}
	var end int
	var err error
	if body[i] == '{' {
		end, err = s.list(i)
	} else {
		end, err = s.value(i, 0)
		if err == nil {
			s.sem("the body is %s, want an EventList JSON object", describe(body[i]))
		}
	}
	if err != nil {
		return err
	}
	if j := s.space(end); j < len(body) {
		return s.syntax(j, "after the top-level value")
	}
	if s.semErr != nil {
		return s.semErr
	}
	return nil
}

// items returns the number of items parse recorded.
func (s *listScan) items() int { return len(s.spans) }

// sem records a problem that is not a syntax error, if none was recorded.
func (s *listScan) sem(format string, args ...any) {
	if s.semErr == nil {
		s.semErr = badBody(format, args...)
	}
}

func (s *listScan) syntax(i int, context string) error {
	return badBody("invalid JSON at byte %d: invalid character %s %s", i, quoteChar(s.b[i]), context)
}

func (s *listScan) eof() error {
	return badBody("invalid JSON at byte %d: unexpected end of the body (truncated?)", len(s.b))
}

// space skips white space from b[i], noting line breaks.
func (s *listScan) space(i int) int {
	b := s.b
	for i < len(b) {
		switch b[i] {
		case ' ', '\t':
			i++
		case '\n', '\r':
			s.nl = true
			i++
		default:
			return i
		}
	}
	return i
}

// list walks the EventList object at b[i] == '{'.
func (s *listScan) list(i int) (int, error) {
	b := s.b
	i = s.space(i + 1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	var kinds, versions, itemLists int
	for {
		if i >= len(b) {
			return i, s.eof()
		}
		if b[i] != '"' {
			return i, s.syntax(i, "looking for the beginning of an object key string")
		}
		keyStart := i
		var err error
		if i, err = s.str(i); err != nil {
			return i, err
		}
		key := b[keyStart+1 : i-1]
		if i = s.space(i); i >= len(b) {
			return i, s.eof()
		}
		if b[i] != ':' {
			return i, s.syntax(i, "after an object key")
		}
		v := s.space(i + 1)
		// encoding/json matches keys to fields case-insensitively, after
		// unescaping: so does keyIs, as the audit parser does.
		switch {
		case keyIs(key, "items"):
			if itemLists++; itemLists == 2 {
				s.sem("the body has two items members")
			}
			i, err = s.itemList(v)
		case keyIs(key, "kind"):
			if kinds++; kinds == 2 {
				s.sem("the body has two kind members")
			}
			if i, err = s.value(v, 1); err == nil {
				s.checkKind(v, i)
			}
		case keyIs(key, "apiVersion"):
			if versions++; versions == 2 {
				s.sem("the body has two apiVersion members")
			}
			if i, err = s.value(v, 1); err == nil {
				s.checkAPIVersion(v, i)
			}
		default:
			i, err = s.value(v, 1)
		}
		if err != nil {
			return i, err
		}
		if i = s.space(i); i >= len(b) {
			return i, s.eof()
		}
		switch b[i] {
		case ',':
			i = s.space(i + 1)
		case '}':
			return i + 1, nil
		default:
			return i, s.syntax(i, "after an object key:value pair")
		}
	}
}

func (s *listScan) checkKind(start, end int) {
	v, ok := jsonbytes.StringValue(s.b, start, end)
	switch {
	case !ok:
		s.sem("kind is %s, want the string EventList", describe(s.b[start]))
	case string(v) != "EventList":
		s.sem("kind is %s, want EventList", short(v))
	}
}

func (s *listScan) checkAPIVersion(start, end int) {
	v, ok := jsonbytes.StringValue(s.b, start, end)
	switch {
	case !ok:
		s.sem("apiVersion is %s, want the string %s or %s", describe(s.b[start]), apiV1, apiV1beta1)
	case string(v) == apiV1:
		s.apiVersion = apiV1
	case string(v) == apiV1beta1:
		s.apiVersion = apiV1beta1
	default:
		s.sem("apiVersion is %s, want %s or %s", short(v), apiV1, apiV1beta1)
	}
}

// itemList walks the value of items at b[i]: null, or an array of objects.
func (s *listScan) itemList(i int) (int, error) {
	b := s.b
	if i >= len(b) {
		return i, s.eof()
	}
	if b[i] != '[' {
		end, err := s.value(i, 1)
		if err == nil && b[i] != 'n' { // null is no items
			s.sem("items is %s, want an array of events", describe(b[i]))
		}
		return end, err
	}
	i = s.space(i + 1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		if i >= len(b) {
			return i, s.eof()
		}
		var err error
		start := i
		if b[i] == '{' {
			s.nl = false
			var flags uint8
			if i, flags, err = s.object(i, 3, true); err != nil {
				return i, err
			}
			if s.nl {
				flags |= itemRawNewline
			}
			if n < MaxItems {
				s.spans = append(s.spans, span{start: start, end: i, flags: flags})
			} else if n == MaxItems {
				s.sem("the batch has more than %d items", MaxItems)
			}
		} else {
			if i, err = s.value(i, 2); err != nil {
				return i, err
			}
			s.sem("items[%d] is %s, want an object (an audit Event)", n, describe(b[start]))
		}
		if i = s.space(i); i >= len(b) {
			return i, s.eof()
		}
		switch b[i] {
		case ',':
			i = s.space(i + 1)
		case ']':
			return i + 1, nil
		default:
			return i, s.syntax(i, "after an array element")
		}
	}
}

// value checks the JSON value at b[i], inside a container at depth depth.
func (s *listScan) value(i, depth int) (int, error) {
	b := s.b
	if i >= len(b) {
		return i, s.eof()
	}
	switch c := b[i]; {
	case c == '"':
		return s.str(i)
	case c == '{':
		end, _, err := s.object(i, depth+1, false)
		return end, err
	case c == '[':
		return s.array(i, depth+1)
	case c == '-' || '0' <= c && c <= '9':
		return s.number(i)
	case c == 't':
		return s.literal(i, "true")
	case c == 'f':
		return s.literal(i, "false")
	case c == 'n':
		return s.literal(i, "null")
	}
	return i, s.syntax(i, "looking for the beginning of a value")
}

// object checks the object at b[i] == '{', at depth depth. With members,
// it also reports which of kind and apiVersion are among its keys.
func (s *listScan) object(i, depth int, members bool) (int, uint8, error) {
	b := s.b
	if depth > maxDepth {
		return i, 0, s.syntax(i, "beyond the maximum nesting depth of 10000")
	}
	i = s.space(i + 1)
	if i < len(b) && b[i] == '}' {
		return i + 1, 0, nil
	}
	var flags uint8
	for {
		if i >= len(b) {
			return i, 0, s.eof()
		}
		if b[i] != '"' {
			return i, 0, s.syntax(i, "looking for the beginning of an object key string")
		}
		keyStart := i
		var err error
		if i, err = s.str(i); err != nil {
			return i, 0, err
		}
		if members {
			flags |= itemHasMembers
			if key := b[keyStart+1 : i-1]; keyIs(key, "kind") {
				flags |= itemHasKind
			} else if keyIs(key, "apiVersion") {
				flags |= itemHasAPIVersion
			}
		}
		if i = s.space(i); i >= len(b) {
			return i, 0, s.eof()
		}
		if b[i] != ':' {
			return i, 0, s.syntax(i, "after an object key")
		}
		if i, err = s.value(s.space(i+1), depth); err != nil {
			return i, 0, err
		}
		if i = s.space(i); i >= len(b) {
			return i, 0, s.eof()
		}
		switch b[i] {
		case ',':
			i = s.space(i + 1)
		case '}':
			return i + 1, flags, nil
		default:
			return i, 0, s.syntax(i, "after an object key:value pair")
		}
	}
}

// array checks the array at b[i] == '[', at depth depth.
func (s *listScan) array(i, depth int) (int, error) {
	b := s.b
	if depth > maxDepth {
		return i, s.syntax(i, "beyond the maximum nesting depth of 10000")
	}
	i = s.space(i + 1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = s.value(i, depth); err != nil {
			return i, err
		}
		if i = s.space(i); i >= len(b) {
			return i, s.eof()
		}
		switch b[i] {
		case ',':
			i = s.space(i + 1)
		case ']':
			return i + 1, nil
		default:
			return i, s.syntax(i, "after an array element")
		}
	}
}

// str checks the string at b[i] == '"'.
func (s *listScan) str(i int) (int, error) {
	b := s.b
	i++
	for {
		i += jsonbytes.PlainLen(b[i:])
		if i >= len(b) {
			return i, s.eof()
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return i, s.eof()
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(b) {
						return k, s.eof()
					}
					if !isHex(b[k]) {
						return k, s.syntax(k, "in a \\u escape")
					}
				}
				i += 6
			default:
				return i + 1, s.syntax(i+1, "in a string escape")
			}
		case c < 0x20:
			return i, s.syntax(i, "in a string (control characters must be escaped)")
		default: // 0x80 and above: UTF-8, passed as is
			i++
			for i < len(b) && b[i] >= 0x80 {
				i++
			}
		}
	}
}

// number checks the number at b[i] ('-' or a digit).
func (s *listScan) number(i int) (int, error) {
	b := s.b
	if b[i] == '-' {
		if i++; i >= len(b) {
			return i, s.eof()
		}
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i = digits(b, i+1)
	default:
		return i, s.syntax(i, "in a number")
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) {
			return i, s.eof()
		}
		if !isDigit(b[i]) {
			return i, s.syntax(i, "after the decimal point of a number")
		}
		i = digits(b, i+1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) {
			return i, s.eof()
		}
		if !isDigit(b[i]) {
			return i, s.syntax(i, "in the exponent of a number")
		}
		i = digits(b, i+1)
	}
	return i, nil
}

func (s *listScan) literal(i int, lit string) (int, error) {
	b := s.b
	for k := range len(lit) {
		if i+k >= len(b) {
			return i + k, s.eof()
		}
		if b[i+k] != lit[k] {
			return i + k, s.syntax(i+k, "in the literal "+lit)
		}
	}
	return i + len(lit), nil
}

// keyIs reports whether the raw (still escaped) key names name, as
// jsonbytes.KeyIs does (after unescaping, case-insensitively, like
// encoding/json's field matching), without its unescaping when the key is
// plain ASCII without escapes, as nearly every key is: such a key can only
// match a name of its own length.
func keyIs(raw []byte, name string) bool {
	if len(raw) != len(name) && jsonbytes.PlainLen(raw) == len(raw) {
		return false
	}
	return jsonbytes.KeyIs(raw, name)
}

func digits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// describe names the JSON type of the valid value starting with c.
func describe(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// quoteChar shows one byte of the request in an answer: printable ASCII
// quoted, anything else in hex.
func quoteChar(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("0x%02x", c)
}

// short quotes at most 40 bytes of a string of the request for an answer.
func short(v []byte) string {
	if len(v) > 40 {
		return strconv.Quote(string(v[:40])) + "..."
	}
	return strconv.Quote(string(v))
}

// appendLines appends one line per item recorded by parse to dst: the
// item's bytes, with kind and apiVersion inserted after its opening brace
// when missing (apiVersion is the list's, by default audit.k8s.io/v1), and
// compacted when it holds a raw line break; then '\n'.
func (s *listScan) appendLines(dst []byte) ([]byte, error) {
	apiVersion := s.apiVersion
	if apiVersion == "" {
		apiVersion = apiV1
	}
	size := 0
	for _, sp := range s.spans {
		size += sp.end - sp.start + len(`"kind":"Event","apiVersion":"`) + len(apiVersion) + len(`",`) + 1
	}
	dst = slices.Grow(dst, size)
	for n, sp := range s.spans {
		item := s.b[sp.start:sp.end]
		if sp.flags&itemRawNewline == 0 {
			dst = append(dst, '{')
			dst = appendTypeMeta(dst, sp.flags, apiVersion)
			dst = append(dst, item[1:]...)
		} else {
			// Raw line breaks can only be white space between tokens
			// (they are invalid inside strings): compacting keeps the
			// value and makes it one line. Rare: kube-apiserver writes
			// compact JSON.
			at := len(dst)
			buf := bytes.NewBuffer(dst)
			if err := json.Compact(buf, item); err != nil {
				return dst[:at], badBody("items[%d]: %v", n, err)
			}
			dst = buf.Bytes()
			if meta := appendTypeMeta(nil, sp.flags, apiVersion); len(meta) > 0 {
				dst = slices.Insert(dst, at+1, meta...)
			}
		}
		dst = append(dst, '\n')
	}
	return dst, nil
}

// appendTypeMeta appends the kind and apiVersion members an item lacks,
// with a comma after them when the item has members of its own.
func appendTypeMeta(dst []byte, flags uint8, apiVersion string) []byte {
	noKind, noVersion := flags&itemHasKind == 0, flags&itemHasAPIVersion == 0
	if noKind {
		dst = append(dst, `"kind":"Event"`...)
	}
	if noVersion {
		if noKind {
			dst = append(dst, ',')
		}
		dst = append(dst, `"apiVersion":"`...)
		dst = append(dst, apiVersion...)
		dst = append(dst, '"')
	}
	if (noKind || noVersion) && flags&itemHasMembers != 0 {
		dst = append(dst, ',')
	}
	return dst
}
