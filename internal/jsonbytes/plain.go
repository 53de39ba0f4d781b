// Package jsonbytes finds, eight bytes at a time, where the content of a
// JSON string stops being plain ASCII that can be copied as is. The audit
// decoder uses PlainLen to find the end of strings; the GELF encoder uses
// Load64 and NeedsWork to copy plain words while it escapes.
package jsonbytes

import "math/bits"

// PlainLen returns how many bytes at the start of s are plain: 0x20..0x7F
// except '"' and '\\'. The first byte that is not (a quote, a backslash, a
// control character, or part of a multi-byte UTF-8 sequence) is s[PlainLen(s)],
// if any. It tests 8 bytes at a time (see NeedsWork).
func PlainLen[T ~string | ~[]byte](s T) int {
	i := 0
	for ; len(s)-i >= 8; i += 8 {
		if m := NeedsWork(Load64(s[i : i+8])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(s) && Plain(s[i]) {
		i++
	}
	return i
}

// Plain reports whether c is plain (see PlainLen).
func Plain(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }

// Load64 returns the first 8 bytes of s as a little-endian word: s[0] is the
// low byte. The compiler turns it into a single load.
func Load64[T ~string | ~[]byte](s T) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

const (
	lsbs = 0x0101010101010101 // the low bit of every byte of a word
	msbs = 0x8080808080808080 // the high bit of every byte of a word
)

// NeedsWork returns 0 if the 8 bytes of w are all plain, and otherwise a word
// whose lowest set bit is the high bit of the first byte that is not (the
// byte at index TrailingZeros64/8). Bits above it mean nothing.
//
// A byte x needs work if x < 0x20, x == '"', x == '\\' or x >= 0x80. The
// subtractions below borrow out of a byte exactly when it is below 0x20 or
// equal to the character; a plain byte is in 0x20..0x7F, so nothing borrows
// into the first byte that needs work, and its high bit is set in one of
// the four terms.
func NeedsWork(w uint64) uint64 {
	ctl := w - 0x20*lsbs                // high bit set if x < 0x20 (or x >= 0xA0)
	quote := (w ^ '"'*lsbs) - lsbs      // high bit set if x == '"' (or x^'"' > 0x80)
	backslash := (w ^ '\\'*lsbs) - lsbs // likewise for '\\'
	return (ctl | quote | backslash | w) & msbs
}
