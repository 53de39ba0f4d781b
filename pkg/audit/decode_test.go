package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/auditgen"
)

// decodeBoth decodes line with the fast decoder and with encoding/json.
// fastOK tells whether the fast decoder accepted it; jsonErr is the
// encoding/json result.
func decodeBoth(line []byte, fast, slow *Event) (fastOK bool, jsonErr error) {
	fast.reset()
	_, fastOK = decode(line, fast, math.MaxInt)
	slow.reset()
	jsonErr = decodeJSON(line, slow)
	return fastOK, jsonErr
}

// sameEvent reports how a and b differ ("" if they do not). The JSON form
// covers every field, and tells a nil pointer from an empty struct; the
// times are compared exactly, location included. Strings are compared as
// encoding/json reads them back, each invalid UTF-8 byte as U+FFFD: the
// fast decoder keeps invalid bytes that encoding/json replaces (Marshal
// writes such a byte as the escape \ufffd, and a decoded U+FFFD as is).
func sameEvent(a, b *Event) string {
	ja, jb := canonicalJSON(a), canonicalJSON(b)
	if !bytes.Equal(ja, jb) {
		return "fast: " + string(ja) + "\njson: " + string(jb)
	}
	for _, p := range [][2]time.Time{
		{a.RequestReceivedTimestamp, b.RequestReceivedTimestamp},
		{a.StageTimestamp, b.StageTimestamp},
		{a.Timestamp, b.Timestamp},
	} {
		if p[0] != p[1] {
			return "times differ: " + p[0].String() + " vs " + p[1].String()
		}
	}
	return ""
}

// canonicalJSON is json.Marshal of ev, read back into generic values and
// written again: the same text for events that differ only by invalid
// bytes in one and U+FFFD in the other.
func canonicalJSON(ev *Event) []byte {
	j, err := json.Marshal(ev)
	if err != nil {
		return []byte("marshal: " + err.Error())
	}
	var v any
	if err := json.Unmarshal(j, &v); err != nil {
		return []byte("unmarshal: " + err.Error())
	}
	j, err = json.Marshal(v)
	if err != nil {
		return []byte("marshal again: " + err.Error())
	}
	return j
}

// SampleLines returns every line of every file under testdata/samples, keyed
// by "<file>:<line number>". It is exported for the tests of package
// audit_test.
func SampleLines(tb testing.TB) (names []string, lines [][]byte) {
	tb.Helper()
	err := filepath.WalkDir("testdata/samples", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		data = bytes.TrimSuffix(data, []byte("\n"))
		for i, l := range bytes.Split(data, []byte("\n")) {
			names = append(names, filepath.Base(path)+":"+strconv.Itoa(i+1))
			lines = append(lines, l)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("read samples: %v", err)
	}
	if len(lines) < 800 {
		tb.Fatalf("read %d sample lines, want at least 800: testdata/samples incomplete", len(lines))
	}
	return names, lines
}

// realLines returns the recorded samples and n generated lines.
func realLines(tb testing.TB, n int) [][]byte {
	tb.Helper()
	_, lines := SampleLines(tb)
	g := auditgen.New(auditgen.Config{MaxBodyBytes: 64 << 10})
	at := auditgen.StartTime
	for i := range n {
		at = at.Add(37 * time.Microsecond)
		lines = append(lines, bytes.TrimSuffix(g.Append(nil, int64(i), at), []byte("\n")))
	}
	return lines
}

// TestDecodeTakesRealLines checks that the fast decoder reads every real
// and generated event itself (the fallback is for odd lines only), with
// the result encoding/json gives.
func TestDecodeTakesRealLines(t *testing.T) {
	var fast, slow Event
	n := 0
	for _, line := range realLines(t, 20000) {
		ok, err := decodeBoth(line, &fast, &slow)
		if err != nil {
			continue // the synthetic fal_01_003.json and blank lines
		}
		n++
		if !ok {
			t.Errorf("fast decoder gave up on %.300s", line)
			continue
		}
		if diff := sameEvent(&fast, &slow); diff != "" {
			t.Errorf("%.200s\n%s", line, diff)
		}
	}
	if n < 20000+808 {
		t.Errorf("compared %d lines, want at least %d", n, 20000+808)
	}
}

// TestDecodeGivesUp lists lines the fast decoder must leave to
// encoding/json, and what Parse then returns.
func TestDecodeGivesUp(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	tests := []struct {
		name string
		line string
		want Event // what Parse returns
	}{
		{"key in another case", `{"AuditID":"a","stage":"s"}`, Event{AuditID: "a", Stage: "s"}},
		{"unknown key folding to a known one", `{"auditID":"a","stage":"s","objectRef":{"NAME":"n"}}`,
			Event{AuditID: "a", Stage: "s", ObjectRef: &ObjectReference{Name: "n"}}},
		{"escaped key", `{"audit\u0049D":"a","stage":"s"}`, Event{AuditID: "a", Stage: "s"}},
		{"duplicate key, last wins", `{"auditID":"a","auditID":"b","stage":"s"}`, Event{AuditID: "b", Stage: "s"}},
		{"duplicate object, merged", `{"auditID":"a","stage":"s","objectRef":{"name":"n"},"objectRef":{"namespace":"ns"}}`,
			Event{AuditID: "a", Stage: "s", ObjectRef: &ObjectReference{Name: "n", Namespace: "ns"}}},
		{"invalid UTF-8 in an annotation key", "{\"auditID\":\"a\",\"stage\":\"s\",\"annotations\":{\"k\xff\":\"1\",\"k\xfe\":\"2\"}}",
			Event{AuditID: "a", Stage: "s", Annotations: map[string]string{"k\uFFFD": "2"}}},
		{"invalid UTF-8 in a user.extra key", "{\"auditID\":\"a\",\"stage\":\"s\",\"user\":{\"extra\":{\"\xc3\":[\"v\"]}}}",
			Event{AuditID: "a", Stage: "s", User: UserInfo{Extra: map[string][]string{"\uFFFD": {"v"}}}}},
		{"null group", `{"auditID":"a","stage":"s","user":{"groups":[null,"g"]}}`,
			Event{AuditID: "a", Stage: "s", User: UserInfo{Groups: []string{"", "g"}}}},
		{"null annotation", `{"auditID":"a","stage":"s","annotations":{"k":null}}`,
			Event{AuditID: "a", Stage: "s", Annotations: map[string]string{"k": ""}}},
		{"deep body", `{"auditID":"a","stage":"s","requestObject":` + deep + `}`,
			Event{AuditID: "a", Stage: "s", RequestObject: json.RawMessage(deep)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev Event
			if _, ok := decode([]byte(tt.line), &ev, math.MaxInt); ok {
				t.Errorf("fast decoder accepted %s", tt.line)
			}
			if err := Parse([]byte(tt.line), &ev); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := sameEvent(&ev, &tt.want); diff != "" {
				t.Error(diff)
			}
		})
	}
}

// TestDecodeMatchesJSON covers what the fast decoder reads itself beyond
// the real lines: escapes, surrogate pairs, nulls, empty values, unknown
// keys of every JSON type, strings that outgrow the text block.
func TestDecodeMatchesJSON(t *testing.T) {
	big := strings.Repeat("x", 5000)
	// Arrays longer than keepListCap, which the decoder sizes by counting
	// ahead: with escapes, with whitespace, and one just over the bound.
	long := func(n int, sep, elem string) string {
		return "[" + strings.Repeat(elem+sep, n-1) + elem + "]"
	}
	extra := ""
	for i := range 1500 {
		extra += fmt.Sprintf(`"k%d":["a","b"],`, i)
	}
	lines := []string{
		`{"auditID":"a","stage":"s","user":{"groups":` + long(3000, ",", `"g\"\u00e9"`) + `,"extra":{` + extra + `"long":` + long(2500, " , ", `""`) + `}},"sourceIPs":` + long(1025, ",\n", `"10.0.0.1"`) + `}`,
		`{"auditID":"a","stage":"s","impersonatedUser":{"groups":` + long(keepListCap+1, ",", `"x"`) + `}}`,
		`{"auditID":"a\"\\\/\b\f\n\r\t\u0000\u00e9\u2028\ud83d\ude80","stage":"s"}`,
		`{"auditID":"é日本🚀","stage":"s","verb":"","user":{},"impersonatedUser":{},"objectRef":{},"responseStatus":{}}`,
		`{"auditID":"a","stage":"s","user":null,"impersonatedUser":null,"objectRef":null,"responseStatus":null,"annotations":null,"sourceIPs":null,"requestObject":null,"responseObject":null,"stageTimestamp":null,"timestamp":""}`,
		`{"auditID":"a","stage":"s","sourceIPs":[],"user":{"groups":[],"extra":{}},"annotations":{}}`,
		`{"auditID":"a","stage":"s","user":{"extra":{"a":[],"b":["1","2"],"a":["3"]}},"annotations":{"k":"1","k":"2","\u006b2":"3"}}`,
		`{"auditID":"a","stage":"s","responseStatus":{"code":-2147483648,"details":{"x":[1,-0.5e+3,true,false,null,{"":""}]}}}`,
		`{"auditID":"a","stage":"s","responseStatus":{"code":2147483647,"metadata":{}},"requestObject":"str","responseObject":[ 1 , 2 ]}`,
		" \t\r\n{ \"auditID\" : \"a\" , \"stage\" : \"s\" , \"x\" : { } , \"y\" : [ ] } \r\n",
		`{"auditID":"a","stage":"s","requestReceivedTimestamp":"2026-11-21T12:00:00.5+02:00","stageTimestamp":"2026-11-21T10:00:00.123456789Z"}`,
		`{"auditID":"` + big + `","stage":"` + big + `","verb":"` + big + `","annotations":{"` + big + `":"` + big + `"}}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"s","unknown":"\u00e9\"","other":12.5e-3}`,
		// Invalid UTF-8 in values: kept as it is (U+FFFD for encoding/json).
		"{\"auditID\":\"a\xff\",\"stage\":\"s\xc3\",\"requestURI\":\"/\xed\xa0\x80/\xf4\x90\x80\x80\\n\xe2\x82\"}",
		"{\"auditID\":\"\xff\xfe\\u00e9\xc3\xa9\xf0\x9f\x98\",\"stage\":\"s\",\"user\":{\"username\":\"\x80\",\"groups\":[\"g\xff\"],\"extra\":{\"k\":[\"\xbf\"]}},\"sourceIPs\":[\"\xfe\"],\"annotations\":{\"k\":\"\xff\\\"\"}}",
		"{\"auditID\":\"a\",\"stage\":\"s\",\"objectRef\":{\"name\":\"\xff\",\"namespace\":\"\xfe\"},\"responseStatus\":{\"message\":\"\xef\xbf\xbd\xff\"},\"unknownKey\":\"\xff\"}",
		// Lone surrogate escapes: U+FFFD, and what follows on its own.
		`{"auditID":"a\ud800","stage":"\udc00b","verb":"\ud800\ud800\udc00","userAgent":"\ud83d\u0041\ud83d"}`,
		`{"auditID":"\ud800\n\udbff\udfff\udc00\ud800","stage":"s","annotations":{"\ud800":"1","\udc00":"2"}}`,
	}
	var fast, slow Event
	for _, line := range lines {
		ok, err := decodeBoth([]byte(line), &fast, &slow)
		if err != nil {
			t.Fatalf("encoding/json: %v on %s", err, line)
		}
		if !ok {
			t.Errorf("fast decoder gave up on %.200s", line)
			continue
		}
		if diff := sameEvent(&fast, &slow); diff != "" {
			t.Errorf("%.200s\n%s", line, diff)
		}
	}
}

// TestParseAllocs checks the steady state: parsing typical events into a
// reused Event allocates nothing.
func TestParseAllocs(t *testing.T) {
	lines := realLines(t, 2000)
	var ev Event
	for _, l := range lines { // warm up the reused storage
		_ = Parse(l, &ev)
	}
	for _, l := range lines[len(lines)-2000:] {
		if n := testing.AllocsPerRun(5, func() { _ = Parse(l, &ev) }); n != 0 {
			t.Fatalf("Parse allocated %v times for %.200s", n, l)
		}
	}
}

// TestParseFallbackDoesNotWriteIntoOldLine: after the fast decoder, the
// bodies share the line's memory; a following encoding/json decode into
// the same Event must not append into it.
func TestParseFallbackDoesNotWriteIntoOldLine(t *testing.T) {
	first := []byte(`{"auditID":"a","stage":"s","requestObject":{"kind":"Pod","spec":"xxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}`)
	keep := bytes.Clone(first)
	var ev Event
	if err := Parse(first, &ev); err != nil {
		t.Fatal(err)
	}
	odd := []byte(`{"AUDITID":"b","stage":"s","requestObject":{"k":1}}`) // needs the fallback
	if err := Parse(odd, &ev); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, keep) {
		t.Fatalf("first line changed to %s", first)
	}
	if string(ev.RequestObject) != `{"k":1}` {
		t.Fatalf("RequestObject = %s", ev.RequestObject)
	}
}

// FuzzDecodeMatchesJSON: whenever the fast decoder accepts a line, encoding/json
// accepts it too and decodes the same event (its strings read as encoding/json
// reads them, each invalid UTF-8 byte as U+FFFD: see sameEvent).
func FuzzDecodeMatchesJSON(f *testing.F) {
	for _, l := range realLines(f, 200) {
		f.Add(l)
	}
	for _, s := range []string{
		`{"auditID":"a\u00e9\ud83d\ude80","stage":"s"}`, `{"auditID":"a","auditid":"b"}`,
		`{"user":{"extra":{"k":["a"],"k":[]}},"annotations":{"x":"1"}}`, `{"responseStatus":{"code":-0}}`,
		`{"requestObject":[{"a":[1e5,-0.0,"\u1234"]}]}`, `{"stageTimestamp":"2026-02-30T00:00:00Z"}`,
		"{\"auditID\":\"a\xff\xc3\",\"stage\":\"\xed\xa0\x80\",\"user\":{\"groups\":[\"\x80\"]}}",
		"{\"annotations\":{\"k\xff\":\"v\xfe\",\"k\xfe\":\"w\"},\"user\":{\"extra\":{\"\xf0\x9f\":[\"\xff\"]}}}",
		`{"auditID":"\ud800\ud800\udc00\udc00","stage":"\ud83d\u0041","verb":"\ud800"}`,
		`{"annotations":{"\ud800":"1","\udfff":"2","\ud800\u0041":"3"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		orig := bytes.Clone(line)
		var fast, slow Event
		ok, err := decodeBoth(line, &fast, &slow)
		if !bytes.Equal(line, orig) {
			t.Fatal("decoding modified its input")
		}
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("fast decoder accepted a line encoding/json rejects (%v)", err)
		}
		if diff := sameEvent(&fast, &slow); diff != "" {
			t.Fatal(diff)
		}
	})
}

// TestDecodeCutLines: every prefix of a real line is refused without a
// panic (a cut can fall inside an escape, a number, a literal or a key).
func TestDecodeCutLines(t *testing.T) {
	line := []byte(`{"kind":"Event","auditID":"a\"b\\","stage":"s","user":{"groups":["x\u00e9"]},"responseStatus":{"code":200},"requestObject":{"a":[true,false,null,-1.5e3,"\\"]}}`)
	var ev Event
	for n := range len(line) {
		ev.reset()
		if _, ok := decode(line[:n], &ev, math.MaxInt); ok {
			t.Errorf("accepted the prefix %s", line[:n])
		}
	}
	ev.reset()
	if _, ok := decode(line, &ev, math.MaxInt); !ok {
		t.Fatal("refused the whole line")
	}
}

// TestKnownWordsOutliveParse: kind, apiVersion, level, stage and verb with
// their usual values are constants, still valid after the next Parse
// (other strings are reused, as Parse documents).
func TestKnownWordsOutliveParse(t *testing.T) {
	var ev Event
	if err := Parse([]byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a","stage":"ResponseComplete","verb":"deletecollection"}`), &ev); err != nil {
		t.Fatal(err)
	}
	kept := [...]string{ev.Kind, ev.APIVersion, ev.Level, ev.Stage, ev.Verb}
	if err := Parse([]byte(`{"kind":"Event","level":"Metadata","auditID":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","stage":"Panic","verb":"x"}`), &ev); err != nil {
		t.Fatal(err)
	}
	if want := [...]string{KindEvent, APIVersionV1, LevelRequestResponse, StageResponseComplete, "deletecollection"}; kept != want {
		t.Errorf("kept %q, want %q", kept, want)
	}
}
