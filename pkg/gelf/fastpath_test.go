package gelf

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/audittail/audittail/pkg/audit"
)

// The fast paths of the encoder, each checked against the simple version it
// replaces.

// escapeSeeds are inputs for the escaping tests: the edge cases of each byte
// class, at every offset of the 8-byte words escapeInto reads.
func escapeSeeds() []string {
	seeds := []string{
		"", "a", "\"", "\\", "\x00", "\x1f", " ", "\x7f", "\x80", "\xff", "é", "😀", "\u2028",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xc3", "\xbf\xbf\xbf\xbf",
		"\xf0\x9f\x98\x80\x80", "abcdefg\xf0\x9f\x98\x80hij", metadataLine,
		strings.Repeat(`x\"\\`, 40), strings.Repeat("abcdefgh", 9),
	}
	for _, c := range []string{"\"", "\\", "\n", "\x01", "\x7f", "é", "😀", "\xff", "\xe2\x82"} {
		for pad := range 17 {
			seeds = append(seeds, strings.Repeat("p", pad)+c+strings.Repeat("q", 17-pad))
		}
	}
	return seeds
}

// FuzzEscapeDifferential checks appendEscaped and escapedLen against
// appendChecked run from the first byte, the simple loop that checks the
// budget before every character and that appendEscaped uses only for the
// last bytes before a cut: the same bytes, the same count consumed and the
// same budget left, for strings and byte slices, with budgets from tiny to
// unlimited. With a budget that covers s, appendEscaped goes all through
// escapeInto, so this holds the 8-byte fast path to the byte loop.
func FuzzEscapeDifferential(f *testing.F) {
	for i, s := range escapeSeeds() {
		f.Add(s, len(s)*(i%4), 3*len(s)+i%7, uint8(i))
	}
	paths, _ := filepath.Glob("../audit/testdata/samples/*/*")
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			line, _, _ := bytes.Cut(data, []byte("\n"))
			f.Add(string(line), len(line)/2, len(line), uint8(len(line)))
		}
	}
	f.Fuzz(func(t *testing.T, s string, val, out int, flags uint8) {
		val, out = max(val, 0), max(out, 0)
		if flags&1 != 0 {
			val = unlimited
		}
		if flags&2 != 0 {
			out = unlimited
		}
		var prefix []byte // what dst holds already
		if flags&4 != 0 {
			prefix = []byte("#")
		}

		wantB := budget{val, out}
		want, wantN := appendChecked(bytes.Clone(prefix), s, 0, &wantB)

		b := budget{val, out}
		got, n := appendEscaped(bytes.Clone(prefix), s, &b)
		if !bytes.Equal(got, want) || n != wantN || b != wantB {
			t.Fatalf("appendEscaped(%q, %d, %d) = %q, %d, %+v; reference %q, %d, %+v", s, val, out, got, n, b, want, wantN, wantB)
		}
		b = budget{val, out}
		gotB, nB := appendEscaped(bytes.Clone(prefix), []byte(s), &b)
		if !bytes.Equal(gotB, want) || nB != wantN || b != wantB {
			t.Fatalf("appendEscaped([]byte(%q), %d, %d) = %q, %d, %+v; reference %q, %d, %+v", s, val, out, gotB, nB, b, want, wantN, wantB)
		}
		// escapedLen (which the truncation steps rely on) agrees with what
		// appendEscaped writes when nothing is cut.
		full := budget{unlimited, unlimited}
		whole, _ := appendEscaped(nil, s, &full)
		if got := escapedLen(s); got != len(whole) {
			t.Fatalf("escapedLen(%q) = %d, appendEscaped wrote %d bytes", s, got, len(whole))
		}
		if got := escapedLen([]byte(s)); got != len(whole) {
			t.Fatalf("escapedLen([]byte(%q)) = %d, appendEscaped wrote %d bytes", s, got, len(whole))
		}
	})
}

// BenchmarkAppendEscaped is appendEscaped alone on a realistic audit line (a
// '"' every ~10 bytes) and on the strings of a typical event (mostly clean).
func BenchmarkAppendEscaped(b *testing.B) {
	line := []byte(metadataLine)
	b.Run("line", func(b *testing.B) {
		var dst []byte
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			bud := budget{unlimited, unlimited}
			dst, _ = appendEscaped(dst[:0], line, &bud)
		}
	})
	b.Run("line-checked", func(b *testing.B) {
		var dst []byte
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			bud := budget{unlimited, unlimited}
			dst, _ = appendChecked(dst[:0], line, 0, &bud)
		}
	})
	r := record(line, "audit.log", 0)
	ev := r.Event
	fields := []string{ev.AuditID, ev.Stage, ev.Verb, ev.Level, ev.RequestURI, ev.UserAgent, ev.User.Username,
		ev.User.UID, ev.ObjectRef.Resource, ev.ObjectRef.Namespace, ev.ObjectRef.Name, ev.ObjectRef.APIVersion}
	for _, v := range ev.Annotations {
		fields = append(fields, v)
	}
	total := 0
	for _, v := range fields {
		total += len(v)
	}
	b.Run("fields", func(b *testing.B) {
		var dst []byte
		b.SetBytes(int64(total))
		b.ReportAllocs()
		for b.Loop() {
			dst = dst[:0]
			for _, v := range fields {
				bud := budget{DefaultMaxFieldBytes, unlimited}
				dst, _ = appendEscaped(dst, v, &bud)
			}
		}
	})
}

// BenchmarkEscapedLen is escapedLen on the audit line.
func BenchmarkEscapedLen(b *testing.B) {
	line := []byte(metadataLine)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		escapedLen(line)
	}
}

// TestAppendDate checks appendDate against time.Time.AppendFormat, which it
// replaces, over the whole range validDate accepts and in several zones.
func TestAppendDate(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("east", 14*3600), time.FixedZone("west", -(11*3600 + 30*60))}
	times := []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC),
		time.Date(2024, 2, 29, 12, 0, 0, 999000000, zones[1]),
		time.Date(1970, 1, 1, 0, 0, 0, 1, zones[2]),
	}
	r := rand.New(rand.NewPCG(1, 2))
	lo, hi := times[0].Unix(), times[1].Unix()
	for range 100000 {
		u := time.Unix(lo+r.Int64N(hi-lo), r.Int64N(1e9))
		times = append(times, u.In(zones[r.IntN(len(zones))]))
	}
	for _, tm := range times {
		if !validDate(tm) {
			continue
		}
		want := `"` + tm.UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"`
		if got := string(appendDate(nil, tm)); got != want {
			t.Fatalf("appendDate(%v) = %s, want %s", tm, got, want)
		}
	}
}

// TestNameCacheCopiesKeys encodes events whose annotation keys live in a
// buffer that is overwritten between events, the way the parser reuses its
// memory: the cached names must follow the current keys.
func TestNameCacheCopiesKeys(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	mem := []byte("example.com/first")
	for _, k := range []string{"example.com/first", "example.org/other", "example.com/first"} {
		copy(mem, k)
		key := unsafe.String(&mem[0], len(mem))
		ev := &audit.Event{AuditID: "a", Stage: "ResponseComplete", Annotations: map[string]string{key: "v"}}
		msg, err := decodeMessage(encodeRecord(e, ev))
		if err != nil {
			t.Fatal(err)
		}
		want := fieldName("_annotations_", k)
		if msg.str(want) != "v" {
			t.Fatalf("key %q: no field %s in %v", k, want, msg.keys)
		}
		// A cached key that shared the buffer would now read as another key.
		for ck, name := range e.annotationNames {
			if name != fieldName("_annotations_", ck) {
				t.Fatalf("cache maps %q to %s: the key changed after it was stored", ck, name)
			}
		}
	}
}

// TestNameCacheBounded checks that a stream of unique keys does not grow the
// cache past its bound, and that names stay right after it is emptied.
func TestNameCacheBounded(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	long := strings.Repeat("k", maxCachedKey+1)
	for i := range 3 * maxCachedNames {
		k := fmt.Sprintf("example.com/key-%d", i)
		ev := &audit.Event{AuditID: "a", Stage: "ResponseComplete",
			Annotations: map[string]string{k: "v", long: "w"},
			User:        audit.UserInfo{Extra: map[string][]string{k: {"x"}}}}
		msg, err := decodeMessage(encodeRecord(e, ev))
		if err != nil {
			t.Fatal(err)
		}
		if msg.str(fieldName("_annotations_", k)) != "v" || msg.str(fieldName("_user_extra_", k)) != "x" ||
			msg.str(fieldName("_annotations_", long)) != "w" {
			t.Fatalf("key %q: wrong fields %v", k, msg.keys)
		}
		if len(e.annotationNames) > maxCachedNames || len(e.extraNames) > maxCachedNames {
			t.Fatalf("cache sizes %d, %d, bound %d", len(e.annotationNames), len(e.extraNames), maxCachedNames)
		}
	}
	if _, ok := e.annotationNames[long]; ok {
		t.Fatal("a key longer than maxCachedKey was cached")
	}
}

// encodeRecord encodes ev with a placeholder line.
func encodeRecord(e *Encoder, ev *audit.Event) []byte {
	out, _ := e.Encode(nil, &Record{Line: []byte(`{}`), Event: ev})
	return out
}
