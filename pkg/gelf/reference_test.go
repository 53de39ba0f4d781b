package gelf

// The escaping functions as they were before the fast paths (commit df2d9e1),
// kept unchanged as the reference the optimised ones are fuzzed against
// (FuzzEscapeDifferential). Do not optimise this file: its value is that it
// is the simple, obviously correct version.

// refUTF8SeqLen returns the length of the valid UTF-8 sequence starting at s[i]
// (s[i] >= 0x80), or 0 if it is not valid (bad lead or continuation byte,
// overlong form, surrogate, above U+10FFFF, or cut short by the end of s).
func refUTF8SeqLen[T ~string | ~[]byte](s T, i int) int {
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

// refASCIIEscLen[c] is how many bytes the ASCII byte c takes once escaped: 1 when
// it is copied as is, 2 for \" \\ \n \r \t \b \f, 6 for the other control
// characters (\u00XX).
var refASCIIEscLen = func() (t [0x80]uint8) {
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

// refAppendEsc appends the escape sequence of the ASCII byte c, which needs one.
func refAppendEsc(dst []byte, c byte) []byte {
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

// refAppendEscaped appends the escaped form of s, without quotes, stopping before
// the first character that does not fit in b. It returns how many bytes of s
// were consumed: less than len(s) means the value was cut.
func refAppendEscaped[T ~string | ~[]byte](dst []byte, s T, b *budget) ([]byte, int) {
	val, out := b.val, b.out
	run := 0 // start of the pending run of bytes copied verbatim
	i := 0
	for i < len(s) {
		c := s[i]
		if c < 0x80 {
			n := int(refASCIIEscLen[c])
			if n == 1 {
				// A run of plain ASCII, as long as the budget allows.
				room := min(val, out, len(s)-i)
				if room < 1 {
					break
				}
				j := i + 1
				for j < i+room && s[j] < 0x80 && refASCIIEscLen[s[j]] == 1 {
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
			dst = refAppendEsc(dst, c)
			i++
			run = i
			continue
		}
		if size := refUTF8SeqLen(s, i); size > 0 {
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

// refEscapedLen returns the length of the escaped form of s, without quotes.
func refEscapedLen[T ~string | ~[]byte](s T) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x80 {
			n += int(refASCIIEscLen[c])
			i++
			continue
		}
		if size := refUTF8SeqLen(s, i); size > 0 {
			n += size
			i += size
			continue
		}
		n += len(replacement)
		i++
	}
	return n
}
