package auditgen

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Low-level appenders. Everything the generator writes at run time is either a
// constant, a piece escaped once at start-up with esc, or produced by the
// helpers below, whose output never needs escaping (hex, digits, timestamps).

const hexDigits = "0123456789abcdef"

// amp is "&" as encoding/json writes it inside a string (HTML-safe escaping,
// which k8s.io/apimachinery's JSON serializer keeps): real audit logs show
// requestURI query strings as "?limit=500\u0026resourceVersion=0".
const amp = `\u0026`

// jsonSafe reports the ASCII bytes encoding/json copies unchanged into a string.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// appendEscaped appends s escaped exactly like encoding/json.Marshal escapes a
// string's content (without the quotes): HTML characters as \u003c \u003e
// \u0026, control characters, U+2028/U+2029, invalid UTF-8 as \ufffd.
func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// esc returns s escaped for use inside a JSON string (no quotes).
func esc(s string) string { return string(appendEscaped(nil, s)) }

// q returns s as a JSON string literal (with quotes).
func q(s string) string { return `"` + esc(s) + `"` }

// appendHex appends the n low hex digits of v, most significant first.
func appendHex(dst []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, hexDigits[(v>>(uint(i)*4))&0xF])
	}
	return dst
}

// appendUUID appends a version-4 shaped UUID made of hi and lo.
func appendUUID(dst []byte, hi, lo uint64) []byte {
	dst = appendHex(dst, hi>>32, 8)
	dst = append(dst, '-')
	dst = appendHex(dst, hi>>16, 4)
	dst = append(dst, '-', '4')
	dst = appendHex(dst, hi, 3)
	dst = append(dst, '-', "89ab"[lo>>62])
	dst = appendHex(dst, lo>>48, 3)
	dst = append(dst, '-')
	return appendHex(dst, lo, 12)
}

func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// appendDateTime appends t (in UTC) as "2006-01-02T15:04:05".
func appendDateTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	if y < 0 || y > 9999 {
		y = 0
	}
	dst = append2(dst, y/100)
	dst = append2(dst, y%100)
	dst = append(dst, '-')
	dst = append2(dst, int(mo))
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, 'T')
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, mi)
	dst = append(dst, ':')
	return append2(dst, s)
}

// appendMicroTime appends t as apimachinery's MicroTime in UTC:
// "2006-01-02T15:04:05.000000Z".
func appendMicroTime(dst []byte, t time.Time) []byte {
	dst = appendDateTime(dst, t)
	us := t.Nanosecond() / 1000
	dst = append(dst, '.')
	dst = append2(dst, us/10000)
	dst = append2(dst, us/100%100)
	dst = append2(dst, us%100)
	return append(dst, 'Z')
}

// appendSecTime appends t as meta/v1 Time (RFC 3339, seconds, UTC).
func appendSecTime(dst []byte, t time.Time) []byte {
	return append(appendDateTime(dst, t), 'Z')
}

// pctEncode percent-encodes a path segment or query value the way Go's
// net/url does for RawQuery values built by client-go (url.QueryEscape-like,
// but keeping the characters a Kubernetes requestURI shows verbatim).
func pctEncode(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b = append(b, c)
		default:
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&0xF])
		}
	}
	return string(b)
}
