package gelf

import "github.com/audittail/audittail/internal/jsonbytes"

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
	i := jsonbytes.SkipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return dst, false
	}
	left := max(limit, 0) // bytes that may still be appended
	dst, left = appendCapped(dst, left, "{")
	i++
	first, wrote := true, false
	for {
		i = jsonbytes.SkipSpace(line, i)
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
		keyEnd, ok := jsonbytes.SkipString(line, i)
		if !ok {
			return dst[:start], false
		}
		rawKey := line[i+1 : keyEnd-1]
		i = jsonbytes.SkipSpace(line, keyEnd)
		if i >= len(line) || line[i] != ':' {
			return dst[:start], false
		}
		valueEnd, ok := jsonbytes.SkipValue(line, jsonbytes.SkipSpace(line, i+1))
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
		i = jsonbytes.SkipSpace(line, valueEnd)
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

// isBodyKey reports whether a raw (still escaped) object key names
// requestObject or responseObject the way encoding/json matches keys.
func isBodyKey(raw []byte) bool {
	return jsonbytes.KeyIs(raw, "requestObject") || jsonbytes.KeyIs(raw, "responseObject")
}
