package gelf

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// sanitize is the reference for what appendEscaped stores: every byte that does
// not start a valid UTF-8 sequence becomes U+FFFD.
func sanitize(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(replacement)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func TestUTF8SeqLen(t *testing.T) {
	edge := []byte{0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF}
	buf := make([]byte, 4)
	for b0 := 0x80; b0 <= 0xFF; b0++ {
		for b1 := 0; b1 <= 0xFF; b1++ {
			for _, b2 := range edge {
				for _, b3 := range edge {
					buf[0], buf[1], buf[2], buf[3] = byte(b0), byte(b1), b2, b3
					for n := 1; n <= 4; n++ {
						s := buf[:n]
						r, size := utf8.DecodeRune(s)
						want := size
						if r == utf8.RuneError && size == 1 {
							want = 0
						}
						if got := utf8SeqLen(s, 0); got != want {
							t.Fatalf("utf8SeqLen(% x) = %d, want %d", s, got, want)
						}
						if got := utf8SeqLen(string(s), 0); got != want {
							t.Fatalf("utf8SeqLen(string % x) = %d, want %d", s, got, want)
						}
					}
				}
			}
		}
	}
}

func TestAppendEscaped(t *testing.T) {
	tests := []struct {
		in       string
		val, out int
		want     string
		consumed int
	}{
		{"plain", unlimited, unlimited, "plain", 5},
		{"<a&b>", unlimited, unlimited, "<a&b>", 5},
		{"q\"b\\", unlimited, unlimited, `q\"b\\`, 4},
		{"\n\r\t\b\f\x00\x1f\x7f", unlimited, unlimited, `\n\r\t\b\f\u0000\u001f` + "\x7f", 8},
		{"a\xffb", unlimited, unlimited, "a\uFFFDb", 3},
		{"\xed\xa0\x80", unlimited, unlimited, "\uFFFD\uFFFD\uFFFD", 3}, // surrogate
		{"\u2028é", unlimited, unlimited, "\u2028é", 5},
		{"abcdef", 3, unlimited, "abc", 3},
		{"abcdef", unlimited, 4, "abcd", 4},
		{"aé", 2, unlimited, "a", 1},          // é is 2 bytes: cut before it
		{"a\"b", unlimited, 2, "a", 1},        // \" is 2 bytes on the wire
		{"a\x00", unlimited, 6, "a", 1},       // \u0000 is 6
		{"a\x00", 2, unlimited, `a\u0000`, 2}, // but 1 byte of value
		{"a\xff", 3, unlimited, "a", 1},       // U+FFFD is 3 bytes of value
		{"a\xff", 4, 4, "a\uFFFD", 2},
		{"😀x", 3, unlimited, "", 0},
		{"", 0, 0, "", 0},
	}
	for _, tt := range tests {
		b := budget{tt.val, tt.out}
		got, n := appendEscaped([]byte("#"), tt.in, &b)
		if string(got) != "#"+tt.want || n != tt.consumed {
			t.Errorf("appendEscaped(%q, %d, %d) = %q, %d; want %q, %d", tt.in, tt.val, tt.out, got[1:], n, tt.want, tt.consumed)
		}
		if full := escapedLen(tt.in); n == len(tt.in) && full != len(got)-1 {
			t.Errorf("escapedLen(%q) = %d, wrote %d", tt.in, full, len(got)-1)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\x7f", "\xff\xfe", "é😀\u2028", "\xed\xa0\x80", "\xf4\x90\x80\x80"} {
		f.Add(s, 10, 10)
	}
	f.Fuzz(func(t *testing.T, s string, val, out int) {
		val, out = max(val, 0), max(out, 0)
		b := budget{val, out}
		enc, n := appendEscaped(nil, s, &b)
		if n < 0 || n > len(s) {
			t.Fatalf("consumed %d of %d", n, len(s))
		}
		if len(enc) > out {
			t.Fatalf("wrote %d bytes, budget %d", len(enc), out)
		}
		if b.out != out-len(enc) {
			t.Fatalf("out budget %d left, wrote %d of %d", b.out, len(enc), out)
		}
		var dec string
		if err := json.Unmarshal([]byte(`"`+string(enc)+`"`), &dec); err != nil {
			t.Fatalf("invalid JSON string %q: %v", enc, err)
		}
		if !utf8.ValidString(dec) || len(dec) > val || b.val != val-len(dec) {
			t.Fatalf("decoded %d bytes (valid %v), budget %d, left %d", len(dec), utf8.ValidString(dec), val, b.val)
		}
		if want := sanitize(s[:n]); dec != want {
			t.Fatalf("decoded %q, want %q", dec, want)
		}
		if n == len(s) && escapedLen(s) != len(enc) {
			t.Fatalf("escapedLen = %d, wrote %d", escapedLen(s), len(enc))
		}
		// The cut is on a sequence boundary: s[:n] sanitises to a prefix of sanitize(s).
		if !strings.HasPrefix(sanitize(s), dec) {
			t.Fatalf("cut inside a sequence: %q is not a prefix of %q", dec, sanitize(s))
		}
	})
}
