package gelf

// appendEscaped as it was before its fast path (commit df2d9e1), kept as the
// reference the optimised one is fuzzed against (FuzzEscapeDifferential). Do
// not optimise it: its value is that it is the simple, obviously correct
// version. The helpers it calls (utf8SeqLen, asciiEscLen, appendEsc) did not
// change, so it uses them.

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
