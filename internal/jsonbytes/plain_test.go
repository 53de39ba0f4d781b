package jsonbytes

import (
	"testing"
)

// slowPlainLen is the byte-at-a-time definition.
func slowPlainLen(s []byte) int {
	i := 0
	for i < len(s) && Plain(s[i]) {
		i++
	}
	return i
}

// TestPlainLenEveryByteEveryPosition puts each of the 256 byte values at
// each position of words of plain text (and after each other value, to
// exercise borrows between bytes), and compares with the definition.
func TestPlainLenEveryByteEveryPosition(t *testing.T) {
	for c := range 256 {
		for prev := range 256 {
			for pos := range 17 {
				s := []byte("abcdefghijklmnopqrstuvwxyz")
				if pos > 0 {
					s[pos-1] = byte(prev)
				}
				s[pos] = byte(c)
				if got, want := PlainLen(s), slowPlainLen(s); got != want {
					t.Fatalf("PlainLen(%q) = %d, want %d", s, got, want)
				}
				if got, want := PlainLen(string(s)), slowPlainLen(s); got != want {
					t.Fatalf("PlainLen(string %q) = %d, want %d", s, got, want)
				}
			}
		}
	}
}

func FuzzPlainLen(f *testing.F) {
	f.Add([]byte(`{"kind":"Event","requestURI":"/api/v1/pods?limit=500\u0026x"}`))
	f.Add([]byte("é日本\x00\x1f\x7f\x80\xff  "))
	f.Fuzz(func(t *testing.T, s []byte) {
		if got, want := PlainLen(s), slowPlainLen(s); got != want {
			t.Fatalf("PlainLen(%q) = %d, want %d", s, got, want)
		}
	})
}

func BenchmarkPlainLen(b *testing.B) {
	s := []byte(`system:serviceaccount:kube-system:generic-garbage-collector/v1.31.2 (linux/amd64) kubernetes/5864a46"`)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if PlainLen(s) != len(s)-1 {
			b.Fatal("wrong length")
		}
	}
}
