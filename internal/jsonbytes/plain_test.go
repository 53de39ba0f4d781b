package jsonbytes

import (
	"math/rand/v2"
	"slices"
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

// TestNeedsWork checks NeedsWork against its definition: every byte value at
// every position of an otherwise plain word, then random words, where only
// the lowest flag must be exact.
func TestNeedsWork(t *testing.T) {
	check := func(w [8]byte) {
		t.Helper()
		first := slices.IndexFunc(w[:], func(c byte) bool { return !Plain(c) })
		m := NeedsWork(Load64(w[:]))
		switch {
		case first < 0 && m != 0:
			t.Fatalf("NeedsWork(% x) = %#x, want 0", w, m)
		case first >= 0 && (m == 0 || m&-m != 0x80<<(8*first)):
			t.Fatalf("NeedsWork(% x) = %#x, want lowest bit in byte %d", w, m, first)
		}
	}
	for pos := range 8 {
		for c := range 256 {
			for _, fill := range []byte{' ', '~', 'a', '"' + 1, '\\' + 1, '"' - 1, '\\' - 1} {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				check(w)
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000000 {
		var w [8]byte
		for i := range w {
			w[i] = byte(r.Uint32())
			if r.IntN(2) == 0 {
				w[i] = 0x20 + byte(r.IntN(0x60)) // often ASCII, to make long plain prefixes
			}
		}
		check(w)
	}
}
