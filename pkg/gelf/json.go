package gelf

// JSON string encoding, append-style and without reflection.
//
// Output is always valid UTF-8 and valid JSON: invalid input bytes become
// U+FFFD, '"', '\\' and control characters are escaped, nothing else is (no
// HTML escaping). Values can be cut to a budget; a cut never splits a UTF-8
// sequence or an escape.

import (
	"math/bits"
	"slices"

	"github.com/audittail/audittail/internal/jsonbytes"
)

const hexDigits = "0123456789abcdef"

// replacement is U+FFFD REPLACEMENT CHARACTER in UTF-8.
const replacement = "\uFFFD"

// unlimited is a budget no value can reach.
const unlimited = int(^uint(0) >> 1)

// utf8SeqLen returns the length of the valid UTF-8 sequence starting at s[i]
// (s[i] >= 0x80), or 0 if it is not valid (bad lead or continuation byte,
// overlong form, surrogate, above U+10FFFF, or cut short by the end of s).
func utf8SeqLen[T ~string | ~[]byte](s T, i int) int {
	n := len(s) - i
	c := s[i]
	var size int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c < 0xC2:
		return 0
	case c < 0xE0:
		size = 2
	case c < 0xF0:
		size = 3
		if c == 0xE0 {
			lo = 0xA0
		} else if c == 0xED {
			hi = 0x9F
		}
	case c < 0xF5:
		size = 4
		if c == 0xF0 {
			lo = 0x90
		} else if c == 0xF4 {
			hi = 0x8F
		}
	default:
		return 0
	}
	if n < size {
		return 0
	}
	if c1 := s[i+1]; c1 < lo || c1 > hi {
		return 0
	}
	for j := 2; j < size; j++ {
		if s[i+j]&0xC0 != 0x80 {
			return 0
		}
	}
	return size
}

// asciiEscLen[c] is how many bytes the ASCII byte c takes once escaped: 1 when
// it is copied as is, 2 for \" \\ \n \r \t \b \f, 6 for the other control
// characters (\u00XX).
var asciiEscLen = func() (t [0x80]uint8) {
	for c := range t {
		switch {
		case c == '"', c == '\\', c == '\n', c == '\r', c == '\t', c == '\b', c == '\f':
			t[c] = 2
		case c < 0x20:
			t[c] = 6
		default:
			t[c] = 1
		}
	}
	return t
}()

// appendEsc appends the escape sequence of the ASCII byte c, which needs one.
func appendEsc(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

// budget bounds one JSON string value: val counts the bytes of the decoded
// value (what the receiver stores), out the bytes of its escaped form (what goes
// on the wire, quotes excluded). Both are decremented as text is written.
type budget struct{ val, out int }

// One input byte decodes to at most maxValPerByte bytes (an invalid byte
// becomes U+FFFD) and is escaped to at most maxOutPerByte (\u00XX).
const (
	maxValPerByte = len(replacement)
	maxOutPerByte = len(`\u0000`)
)

// appendEscaped appends the escaped form of s, without quotes, stopping before
// the first character that does not fit in b. It returns how many bytes of s
// were consumed: less than len(s) means the value was cut.
//
// Most of s goes through escapeInto, which checks no budget: it is given only
// prefixes that cannot exceed b, even at the worst case per byte. That covers
// all of s when b is large enough (the normal case) and otherwise all but the
// last few bytes before the cut, which appendChecked handles one character at
// a time.
func appendEscaped[T ~string | ~[]byte](dst []byte, s T, b *budget) ([]byte, int) {
	i := 0
	for i < len(s) {
		n := len(s) - i // no slice is long enough for these products to overflow
		if maxValPerByte*n > b.val || maxOutPerByte*n > b.out {
			n = seqBoundary(s[i:], min(b.val/maxValPerByte, b.out/maxOutPerByte))
			if n == 0 {
				break
			}
		}
		dst = slices.Grow(dst, maxOutPerByte*n)
		out, val := escapeInto(dst[len(dst):cap(dst)], s[i:i+n])
		dst = dst[:len(dst)+out]
		b.val -= val
		b.out -= out
		i += n
	}
	if i == len(s) {
		return dst, i
	}
	return appendChecked(dst, s, i, b)
}

// seqBoundary returns a k' <= k such that cutting s at k' splits no valid UTF-8
// sequence: k itself, or the start of the sequence s[k] may belong to. It
// looks back at most 3 bytes (a sequence has at most 3 continuation bytes),
// so it returns 0 only when k <= 3.
func seqBoundary[T ~string | ~[]byte](s T, k int) int {
	if k >= len(s) {
		return len(s)
	}
	for j := k; j >= max(k-3, 0); j-- {
		if s[j]&0xC0 != 0x80 {
			return j // s[j] is ASCII or a lead byte: no sequence goes through it
		}
	}
	return k // s[k-3:k+1] are all continuation bytes: no sequence reaches s[k] from before
}

// escapeInto writes the escaped form of s at the start of buf, which must
// hold maxOutPerByte bytes per byte of s. It returns how many bytes it wrote
// and the length of the decoded value.
//
// It copies plain bytes 8 at a time: it stores a whole word of s, then keeps
// only its plain prefix (see jsonbytes.NeedsWork) and lets the next write go over the
// rest. It never writes past the bytes it reports: a word is stored only when
// 8 bytes of s remain, and each of them adds at least one byte to the output.
func escapeInto[T ~string | ~[]byte](buf []byte, s T) (o, val int) {
	val = len(s)
	for i := 0; i < len(s); {
		if len(s)-i >= 8 {
			w := jsonbytes.Load64(s[i : i+8])
			store64(buf[o:o+8], w)
			m := jsonbytes.NeedsWork(w)
			if m == 0 {
				i += 8
				o += 8
				continue
			}
			k := bits.TrailingZeros64(m) / 8
			i += k
			o += k
		}
		c := s[i]
		switch {
		case c < 0x80 && asciiEscLen[c] == 1:
			buf[o] = c // one of the last 7 bytes of s, which no word covers
			o++
			i++
		case c == '"' || c == '\\': // the common case: JSON text in a JSON string
			buf[o], buf[o+1] = '\\', c
			o += 2
			i++
		case c < 0x80:
			o += len(appendEsc(buf[o:o], c)) // in place: buf has room
			i++
		default:
			if size := utf8SeqLen(s, i); size > 0 {
				o += copy(buf[o:], s[i:i+size])
				i += size
			} else {
				o += copy(buf[o:], replacement)
				val += len(replacement) - 1
				i++
			}
		}
	}
	return o, val
}

// appendChecked is appendEscaped from s[i], checking b before every character.
func appendChecked[T ~string | ~[]byte](dst []byte, s T, i int, b *budget) ([]byte, int) {
	val, out := b.val, b.out
	run := i // start of the pending run of bytes copied verbatim
	for i < len(s) {
		c := s[i]
		if c < 0x80 {
			n := int(asciiEscLen[c])
			if n == 1 {
				// A run of plain ASCII, as long as the budget allows.
				room := min(val, out, len(s)-i)
				if room < 1 {
					break
				}
				j := i + 1
				for j < i+room && s[j] < 0x80 && asciiEscLen[s[j]] == 1 {
					j++
				}
				val -= j - i
				out -= j - i
				i = j
				continue
			}
			if val < 1 || out < n {
				break
			}
			val--
			out -= n
			dst = append(dst, s[run:i]...)
			dst = appendEsc(dst, c)
			i++
			run = i
			continue
		}
		if size := utf8SeqLen(s, i); size > 0 {
			if val < size || out < size {
				break
			}
			val -= size
			out -= size
			i += size
			continue
		}
		if val < len(replacement) || out < len(replacement) {
			break
		}
		val -= len(replacement)
		out -= len(replacement)
		dst = append(dst, s[run:i]...)
		dst = append(dst, replacement...)
		i++
		run = i
	}
	dst = append(dst, s[run:i]...)
	b.val, b.out = val, out
	return dst, i
}

// escapedLen returns the length of the escaped form of s, without quotes.
// (A byte at a time: unlike appendEscaped it copies nothing, and a table
// lookup per byte beats skipping plain runs when escapes are dense.)
func escapedLen[T ~string | ~[]byte](s T) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x80 {
			n += int(asciiEscLen[c])
			i++
			continue
		}
		if size := utf8SeqLen(s, i); size > 0 {
			n += size
			i += size
			continue
		}
		n += len(replacement)
		i++
	}
	return n
}

// store64 stores w in the first 8 bytes of b, low byte first (the inverse of
// jsonbytes.Load64). The compiler turns it into a single store.
func store64(b []byte, w uint64) {
	_ = b[7]
	b[0], b[1], b[2], b[3] = byte(w), byte(w>>8), byte(w>>16), byte(w>>24)
	b[4], b[5], b[6], b[7] = byte(w>>32), byte(w>>40), byte(w>>48), byte(w>>56)
}

// appendQuoted appends s as a complete JSON string, uncut.
func appendQuoted[T ~string | ~[]byte](dst []byte, s T) []byte {
	b := budget{unlimited, unlimited}
	dst = append(dst, '"')
	dst, _ = appendEscaped(dst, s, &b)
	return append(dst, '"')
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not end
// inside a valid UTF-8 sequence. It backs up at most 3 bytes: a longer run of
// continuation bytes is invalid UTF-8 anyway and is cut anywhere.
func cutUTF8[T ~string | ~[]byte](s T, n int) T {
	if len(s) <= n {
		return s
	}
	for k := 0; k < 3 && n > 0 && s[n]&0xC0 == 0x80; k++ {
		n--
	}
	return s[:n]
}
