package gelf

import (
	"encoding/json"
	"strings"
)

// stripBodies appends to dst the JSON object in line without its top-level
// requestObject and responseObject members (truncation step 1). The other
// members are copied byte for byte, joined by ','; whitespace around the object
// and between members is dropped. Keys are matched like encoding/json does
// (after unescaping, case-insensitively), so that what Parse saw as a body is
// what gets removed. ok is false, and dst is returned unchanged, when line is not
// a well-formed JSON object.
//
// At most limit bytes are appended: the result is then the first limit bytes of
// the stripped object. The whole line is still checked, so ok does not depend
// on limit. This bounds the copy to what a message can hold, whatever the size
// of the line.
func stripBodies(dst, line []byte, limit int) (_ []byte, ok bool) {
	start := len(dst)
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return dst, false
	}
	left := max(limit, 0) // bytes that may still be appended
	dst, left = appendCapped(dst, left, "{")
	i++
	first, wrote := true, false
	for {
		i = skipSpace(line, i)
		if i >= len(line) {
			return dst[:start], false
		}
		if line[i] == '}' && first {
			break
		}
		if line[i] != '"' {
			return dst[:start], false
		}
		memberStart := i
		keyEnd, ok := skipString(line, i)
		if !ok {
			return dst[:start], false
		}
		rawKey := line[i+1 : keyEnd-1]
		i = skipSpace(line, keyEnd)
		if i >= len(line) || line[i] != ':' {
			return dst[:start], false
		}
		valueEnd, ok := skipValue(line, skipSpace(line, i+1))
		if !ok {
			return dst[:start], false
		}
		if !isBodyKey(rawKey) {
			if wrote {
				dst, left = appendCapped(dst, left, ",")
			}
			dst, left = appendCapped(dst, left, line[memberStart:valueEnd])
			wrote = true
		}
		first = false
		i = skipSpace(line, valueEnd)
		if i >= len(line) {
			return dst[:start], false
		}
		if line[i] == '}' {
			break
		}
		if line[i] != ',' {
			return dst[:start], false
		}
		i++
	}
	dst, _ = appendCapped(dst, left, "}")
	return dst, true
}

// appendCapped appends to dst as much of the start of src as left (>= 0)
// allows, and returns dst and what is left.
func appendCapped[T ~string | ~[]byte](dst []byte, left int, src T) ([]byte, int) {
	n := min(len(src), left)
	return append(dst, src[:n]...), left - n
}

func skipSpace(b []byte, i int) int {
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

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, bool) {
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

// skipValue returns the index after the JSON value starting at b[i]. It checks
// only what it needs to find the end: strings and bracket nesting.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				var ok bool
				if i, ok = skipString(b, i); !ok {
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

// maxBodyKey is the longest raw key that can name a body: each of the 14
// characters of "responseObject" written as an escape of 6 bytes (a character
// that folds to an ASCII letter is in the Basic Multilingual Plane, so it
// needs no surrogate pair).
const maxBodyKey = 6 * len("responseObject")

// isBodyKey reports whether a raw (still escaped) object key names
// requestObject or responseObject the way encoding/json matches keys.
func isBodyKey(raw []byte) bool {
	if len(raw) > maxBodyKey {
		return false // and no unescaping of a long key
	}
	ascii := true
	for _, c := range raw {
		if c >= 0x80 || c == '\\' {
			ascii = false
			break
		}
	}
	if ascii {
		return asciiEqualFold(raw, "requestObject") || asciiEqualFold(raw, "responseObject")
	}
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	var k string
	if json.Unmarshal(quoted, &k) != nil {
		return false
	}
	return strings.EqualFold(k, "requestObject") || strings.EqualFold(k, "responseObject")
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
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
