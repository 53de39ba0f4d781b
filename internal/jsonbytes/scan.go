package jsonbytes

import (
	"encoding/json"
	"strings"
)

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace (RFC 8259: space, tab, CR, LF), or len(b).
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// SkipString returns the index after the JSON string starting at b[i] ==
// '"', and false if the string does not end in b. It checks only escapes
// and the closing quote, not the escapes' validity.
func SkipString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return i, false
}

// SkipValue returns the index after the JSON value starting at b[i], and
// false if it does not end in b. It checks only what it needs to find the
// end: strings and bracket nesting; a line that the audit parser accepted
// is valid JSON, so this finds the same ends encoding/json would.
func SkipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				var ok bool
				if i, ok = SkipString(b, i); !ok {
					return i, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	start := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i, i > start
		}
		i++
	}
	return i, false
}

// Member is one member of a JSON object, as byte offsets into the input:
// the raw key (still escaped, without quotes) is b[KeyStart:KeyEnd], the
// member runs from its key's opening quote at Start to its value's end at
// ValueEnd, and the value is b[ValueStart:ValueEnd].
type Member struct {
	Start, KeyStart, KeyEnd, ValueStart, ValueEnd int
}

// Members calls fn for each member of the object that starts at b[i] (after
// whitespace), in order, until fn returns false. It returns the index after
// the object and whether the object is well formed up to where the walk
// stopped. fn must not keep m past the call.
func Members(b []byte, i int, fn func(m Member) bool) (int, bool) {
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != '{' {
		return i, false
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		var m Member
		m.Start, m.KeyStart = i, i+1
		keyEnd, ok := SkipString(b, i)
		if !ok {
			return keyEnd, false
		}
		m.KeyEnd = keyEnd - 1
		i = SkipSpace(b, keyEnd)
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		m.ValueStart = SkipSpace(b, i+1)
		if m.ValueEnd, ok = SkipValue(b, m.ValueStart); !ok {
			return m.ValueEnd, false
		}
		if !fn(m) {
			return m.ValueEnd, true
		}
		i = SkipSpace(b, m.ValueEnd)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case '}':
			return i + 1, true
		case ',':
			i = SkipSpace(b, i+1)
		default:
			return i, false
		}
	}
}

// Elements calls fn with the bounds of each element of the array that
// starts at b[i] (after whitespace), in order, until fn returns false. It
// returns the index after the array and whether it is well formed up to
// where the walk stopped.
func Elements(b []byte, i int, fn func(start, end int) bool) (int, bool) {
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != '[' {
		return i, false
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		end, ok := SkipValue(b, i)
		if !ok {
			return end, false
		}
		if !fn(i, end) {
			return end, true
		}
		i = SkipSpace(b, end)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ']':
			return i + 1, true
		case ',':
			i = SkipSpace(b, i+1)
		default:
			return i, false
		}
	}
}

// KeyIs reports whether a raw (still escaped) object key names name the
// way encoding/json matches a key to a struct field: after unescaping,
// case-insensitively (Go's encoding/json, decode.go object: "preferring an
// exact match but also accepting a case-insensitive match"). The audit
// parser matches keys so, and a key it took for a field must be the key
// that is found here. name must be ASCII.
func KeyIs(raw []byte, name string) bool {
	// An escape takes at most 6 bytes for a character that folds to ASCII.
	if len(raw) < len(name) || len(raw) > 6*len(name) {
		return false
	}
	if len(raw) == len(name) {
		return asciiEqualFold(raw, name)
	}
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	var k string
	if json.Unmarshal(quoted, &k) != nil {
		return false
	}
	return strings.EqualFold(k, name)
}

// asciiEqualFold reports whether b equals the ASCII string s, ignoring
// ASCII case. A byte over 0x7F never equals: a non-ASCII character that
// folds to an ASCII letter (the Kelvin sign, the long s) takes more than
// one byte, so it has a different length and goes through KeyIs's
// unescaping path.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// StringValue returns the content of the JSON string b[start:end] (with its
// quotes), unescaped, and whether it is a string. Strings without escapes,
// the norm, are returned without allocation, sharing b's memory.
func StringValue(b []byte, start, end int) ([]byte, bool) {
	if end-start < 2 || b[start] != '"' || b[end-1] != '"' {
		return nil, false
	}
	s := b[start+1 : end-1]
	for _, c := range s {
		if c == '\\' {
			var u string
			if json.Unmarshal(b[start:end], &u) != nil {
				return nil, false
			}
			return []byte(u), true
		}
	}
	return s, true
}
