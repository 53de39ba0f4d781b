package webhook

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/auditgen"
)

// split is what the receiver does with a body: check it, then make lines.
func split(body []byte) (lines []byte, n int, err error) {
	var s listScan
	if err := s.parse(body); err != nil {
		return nil, 0, err
	}
	lines, err = s.appendLines(nil)
	return lines, s.items(), err
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		name, body, lines string
	}{
		{"kube-apiserver's shape", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[{"level":"Metadata","auditID":"a"},{"level":"Request"}]}` + "\n",
			`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a"}` + "\n" + `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request"}` + "\n"},
		{"items keep their bytes", `{"items":[{"n":1.50e+3,"s":"\u00e9\/\"","k":{"b":1,"a":2}}]}`,
			`{"kind":"Event","apiVersion":"audit.k8s.io/v1","n":1.50e+3,"s":"\u00e9\/\"","k":{"b":1,"a":2}}` + "\n"},
		{"kind and apiVersion kept", `{"items":[{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","a":1}]}`,
			`{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","a":1}` + "\n"},
		{"only kind missing", `{"apiVersion":"audit.k8s.io/v1beta1","items":[{"apiVersion":"audit.k8s.io/v1","a":1}]}`,
			`{"kind":"Event","apiVersion":"audit.k8s.io/v1","a":1}` + "\n"},
		{"only apiVersion missing", `{"items":[{"kind":"Event"}]}`,
			`{"apiVersion":"audit.k8s.io/v1","kind":"Event"}` + "\n"},
		{"escaped and folded keys count", `{"Items":[{"\u006bind":"Event","APIVERSION":"x"}]}`,
			`{"\u006bind":"Event","APIVERSION":"x"}` + "\n"},
		{"{}", `{"items":[{}]}`, `{"kind":"Event","apiVersion":"audit.k8s.io/v1"}` + "\n"},
		{"{ } with spaces", `{"items":[ {  } ]}`, `{"kind":"Event","apiVersion":"audit.k8s.io/v1"  }` + "\n"},
		{"pretty {}", "{\"items\":[{\n}]}", `{"kind":"Event","apiVersion":"audit.k8s.io/v1"}` + "\n"},
		{"pretty-printed", "{\n \"apiVersion\": \"audit.k8s.io/v1beta1\",\n \"items\": [\n  {\n   \"a\": [1, 2],\r\n   \"b\": \"x y\"\n  },\n  {\"c\": 3}\n ]\n}\n",
			`{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","a":[1,2],"b":"x y"}` + "\n" + `{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","c": 3}` + "\n"},
		{"pretty with kind", "{\"items\":[{\"kind\":\"Event\",\n\"a\":1}]}", `{"apiVersion":"audit.k8s.io/v1","kind":"Event","a":1}` + "\n"},
		{"tabs kept", "{\"items\":[{\"a\":\t1}]}", "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"a\":\t1}\n"},
		{"U+2028 in a string is not a line break", `{"items":[{"a":"` + "\u2028" + `"}]}`, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","a":"` + "\u2028" + `"}` + "\n"},
		{"other members ignored", `{"metadata":{"resourceVersion":"1"},"x":[null,true,false,-0.5e-3],"items":[{}]}`, `{"kind":"Event","apiVersion":"audit.k8s.io/v1"}` + "\n"},
		{"kind escaped", `{"kind":"Event\u004cist","items":[]}`, ""},
		{"null items", `{"items":null}`, ""},
	} {
		lines, n, err := split([]byte(c.body))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if string(lines) != c.lines || n != strings.Count(c.lines, "\n") {
			t.Errorf("%s: %d lines\n%s\nwant\n%s", c.name, n, lines, c.lines)
		}
	}
}

func TestSplitRefuses(t *testing.T) {
	for _, c := range []struct{ body, says string }{
		{``, "the body is empty"},
		{"  \n", "the body is empty"},
		{`null`, "the body is null, want an EventList JSON object"},
		{`"x"`, "the body is a string"},
		{`12`, "the body is a number"},
		{`[`, "unexpected end of the body"},
		{`{"kind":"Event"}`, `kind is "Event", want EventList`},
		{`{"kind":1}`, "kind is a number, want the string EventList"},
		{`{"kind":"EventList","kind":"EventList"}`, "two kind members"},
		{`{"apiVersion":"v1"}`, `apiVersion is "v1", want audit.k8s.io/v1 or audit.k8s.io/v1beta1`},
		{`{"apiVersion":null}`, "apiVersion is null"},
		{`{"apiVersion":"audit.k8s.io/v1","APIVersion":"audit.k8s.io/v1"}`, "two apiVersion members"},
		{`{"apiVersion":"` + strings.Repeat("a", 100) + `"}`, `apiVersion is "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"...`},
		{`{"items":[],"items":[{}]}`, "two items members"},
		{`{"items":"x"}`, "items is a string, want an array of events"},
		{`{"items":true}`, "items is a boolean"},
		{`{"items":[{},[]]}`, "items[1] is an array, want an object"},
		{`{"items":[{},null]}`, "items[1] is null"},
		{`{"items":[{}],}`, "invalid JSON at byte 14: invalid character '}' looking for the beginning of an object key string"},
		{`{"items":[{},]}`, "invalid JSON at byte 13: invalid character ']' looking for the beginning of a value"},
		{`{"items":[{"a":01}]}`, "invalid JSON at byte 16: invalid character '1' after an object key:value pair"},
		{`{"items":[{"a":1.}]}`, "after the decimal point"},
		{`{"items":[{"a":1e}]}`, "in the exponent"},
		{`{"items":[{"a":-}]}`, "in a number"},
		{`{"items":[{"a":tru}]}`, "in the literal true"},
		{`{"items":[{"a":"\x"}]}`, "in a string escape"},
		{`{"items":[{"a":"\u12G4"}]}`, `in a \u escape`},
		{"{\"items\":[{\"a\":\"\x01\"}]}", "0x01 in a string (control characters must be escaped)"},
		{"{\"items\":[{\"a\":\"\n\"}]}", "control characters"},
		{`{"items":[{"a":1}]} x`, "after the top-level value"},
		{`{"items":[{"a":1}]`, "unexpected end of the body"},
		{`{"items":[{"a":"abc`, "unexpected end of the body"},
		{`{"items":[{"a" 1}]}`, "after an object key"},
		{`{"items":[{"a":1 "b":2}]}`, "after an object key:value pair"},
		{`{'items':[]}`, "looking for the beginning of an object key string"},
		// A syntax error wins over an earlier semantic one.
		{`{"kind":"Event","items":[`, "unexpected end of the body"},
	} {
		_, _, err := split([]byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%q: %v, want %q", c.body, err, c.says)
		}
		if err != nil && strings.TrimSpace(c.body) != "" && json.Valid([]byte(c.body)) == strings.Contains(err.Error(), "invalid JSON") {
			t.Errorf("%q: %v, but json.Valid says %v", c.body, err, json.Valid([]byte(c.body)))
		}
	}
}

// TestSplitDepth: the nesting limit is encoding/json's.
func TestSplitDepth(t *testing.T) {
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		// The item is at depth 3; its member value adds the rest.
		inner := strings.Repeat("[", depth-3) + strings.Repeat("]", depth-3)
		body := []byte(`{"items":[{"a":` + inner + `}]}`)
		_, _, err := split(body)
		if (err == nil) != json.Valid(body) {
			t.Errorf("depth %d: split %v, json.Valid %v", depth, err, json.Valid(body))
		}
	}
}

// TestSplitItemLimit: a batch of more than MaxItems items is refused.
func TestSplitItemLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 3 MiB body")
	}
	body := []byte(`{"items":[` + strings.Repeat("{},", MaxItems) + `{}]}`)
	if _, _, err := split(body); err == nil || !strings.Contains(err.Error(), "more than 1048576 items") {
		t.Errorf("MaxItems+1 items: %v", err)
	}
	body = []byte(`{"items":[` + strings.Repeat("{},", MaxItems-1) + `{}]}`)
	if _, n, err := split(body); err != nil || n != MaxItems {
		t.Errorf("MaxItems items: %d, %v", n, err)
	}
}

// values are JSON values, valid or not, for the validator's parity with
// encoding/json.
var values = []string{
	`0`, `-0`, `01`, `-`, `1.`, `.5`, `1.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-1.0e-0`, `2.`, `+1`, `0x10`, `1_000`, `NaN`, `Infinity`,
	`true`, `false`, `null`, `tru`, `nul`, `True`, `nulll`, `truefalse`,
	`""`, `"a"`, `"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u0041"`, `"\u00e9\uD83D\uDE00"`, `"\uD800"`, `"\u12"`, `"\u12g4"`, `"\a"`, `"\'"`,
	"\"\x00\"", "\"\x1f\"", "\"\x7f\"", "\"\xff\xfe\"", "\"é\"", "\"\t\"", `"unterminated`, `"\`,
	`[]`, `[1,2]`, `[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[`, `]`, `{}`, `{"a":1}`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{1:2}`, `{"a":1 "b":2}`,
	`{"a":{"b":[{"c":null}]}}`, ` [ 1 , { "x" : [ ] } ] `, "\t\r\n1\n", `{"a":1}}`, `[]]`,
}

func TestSplitMatchesValid(t *testing.T) {
	for _, v := range values {
		checkValue(t, []byte(v))
	}
}

// checkValue puts v as a member value in an item and checks that the
// receiver accepts the body exactly when encoding/json finds it valid.
func checkValue(t *testing.T, v []byte) {
	body := append(append([]byte(`{"items":[{"v":`), v...), `}]}`...)
	lines, n, err := split(body)
	if valid := json.Valid(body); (err == nil) != valid {
		t.Fatalf("value %q: split %v, json.Valid %v", v, err, valid)
	}
	if err == nil && (n != 1 || !json.Valid(lines) || bytes.Count(lines, []byte("\n")) != 1) {
		t.Fatalf("value %q: %d lines %q", v, n, lines)
	}
}

// FuzzValue checks the validator against encoding/json on any member value.
func FuzzValue(f *testing.F) {
	for _, v := range values {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, v []byte) { checkValue(t, v) })
}

// reference decides, with encoding/json, what the receiver must do with
// a body: refuse it (ok false), or accept it with these items. It is
// encoding/json's decoding into struct{ Items []json.RawMessage } plus the
// rules the receiver adds on purpose, where encoding/json alone would
// accept:
//
//   - the body must be a JSON object (encoding/json takes null for a struct);
//   - kind, if present, must be the string EventList and apiVersion the
//     string audit.k8s.io/v1 or v1beta1 (their case-insensitive
//     equivalents count, as in encoding/json's field matching);
//   - kind, apiVersion and items may appear once each (encoding/json keeps
//     the last: a body with two item lists is ambiguous, and refused);
//   - every item must be an object;
//   - at most MaxItems items.
func reference(body []byte) (items []json.RawMessage, apiVersion string, ok bool) {
	var list struct{ Items []json.RawMessage }
	if json.Unmarshal(body, &list) != nil {
		return nil, "", false
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, "", false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.Token() // {
	seen := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, "", false
		}
		key := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, "", false
		}
		for _, name := range []string{"kind", "apiVersion", "items"} {
			if strings.EqualFold(key, name) {
				seen[name]++
			}
		}
		var s string
		isString := len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil
		switch {
		case strings.EqualFold(key, "kind") && (!isString || s != "EventList"):
			return nil, "", false
		case strings.EqualFold(key, "apiVersion") && (!isString || s != apiV1 && s != apiV1beta1):
			return nil, "", false
		case strings.EqualFold(key, "apiVersion"):
			apiVersion = s
		}
	}
	for _, n := range seen {
		if n > 1 {
			return nil, "", false
		}
	}
	if len(list.Items) > MaxItems {
		return nil, "", false
	}
	for _, it := range list.Items {
		if it[0] != '{' {
			return nil, "", false
		}
	}
	if apiVersion == "" {
		apiVersion = apiV1
	}
	return list.Items, apiVersion, true
}

// FuzzEventList: any body, no panic; the receiver accepts exactly what
// the reference accepts, and then every line is one compact JSON object
// that decodes to its item with kind and apiVersion added when missing.
func FuzzEventList(f *testing.F) {
	for _, s := range []string{
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[{"level":"Metadata"}]}`,
		`{"items":[{},{ },{"kind":"Event"},{"apiVersion":"x"}]}`,
		"{\"apiVersion\":\"audit.k8s.io/v1beta1\",\"items\":[{\n\"a\":\r\n[1,\n2]}]}",
		`{"items":null}`, `{}`, `null`, `[]`, `{"items":[1]}`, `{"items":[],"ITEMS":[{}]}`, `{"kind":"Event"}`,
		`{"Kind":"EventList","\u0061piVersion":"audit.k8s.io/v1","items":[{"\u006bind":1}]}`,
		`{"items":[{"a":"\ud800\u00e9\"\\"}]}`, "{\"items\":[{\"a\":\"\xff\"}]}",
	} {
		f.Add([]byte(s))
	}
	var items []string
	for _, l := range strings.Split(string(mustRead(f, filepath.Join(samples, "audit2rbac/demo-2017-v1beta1.log"))), "\n")[:5] {
		if it, ok := asSent(l, apiV1beta1); ok {
			items = append(items, it)
		}
	}
	f.Add(eventList(apiV1beta1, items...))
	f.Fuzz(func(t *testing.T, body []byte) {
		lines, n, err := split(body)
		refItems, apiVersion, ok := reference(body)
		if (err == nil) != ok {
			t.Fatalf("receiver error %v, reference accepts: %v\nbody %q", err, ok, body)
		}
		if err != nil {
			if len(err.Error()) > 300 {
				t.Fatalf("error too long for an answer: %v", err)
			}
			return
		}
		if n != len(refItems) {
			t.Fatalf("%d lines, reference has %d items\nbody %q", n, len(refItems), body)
		}
		rest := lines
		for i := range n {
			end := bytes.IndexByte(rest, '\n')
			if end < 0 {
				t.Fatalf("line %d does not end with a newline: %q", i, rest)
			}
			line := rest[:end]
			rest = rest[end+1:]
			if bytes.ContainsRune(line, '\r') || !json.Valid(line) || len(line) == 0 || line[0] != '{' {
				t.Fatalf("line %d is not one compact JSON object: %q", i, line)
			}
			checkSameEvent(t, line, refItems[i], apiVersion)
		}
		if len(rest) != 0 {
			t.Fatalf("%d bytes after the last line: %q", len(rest), rest)
		}
	})
}

// checkSameEvent checks that line decodes to item with kind and
// apiVersion added where item has none.
func checkSameEvent(t *testing.T, line, item []byte, apiVersion string) {
	t.Helper()
	decode := func(b []byte) map[string]any {
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
		return m
	}
	got, want := decode(line), decode(item)
	has := func(name string) bool {
		for k := range maps.Keys(want) {
			if strings.EqualFold(k, name) {
				return true
			}
		}
		return false
	}
	if !has("kind") {
		want["kind"] = "Event"
	}
	if !has("apiVersion") {
		want["apiVersion"] = apiVersion
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("line %q\nis not item %q with kind and apiVersion", line, item)
	}
}

func mustRead(tb testing.TB, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// batch returns an EventList of n generated events (auditgen, about
// 1.7 KB each), without kind and apiVersion, as kube-apiserver sends them.
func batch(tb testing.TB, n int) []byte {
	g := auditgen.New(auditgen.Config{Seed: 7})
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	items := make([]string, 0, n)
	var line []byte
	for i := range n {
		line = g.Append(line[:0], int64(i), at.Add(time.Duration(i)*time.Millisecond))
		it, ok := asSent(strings.TrimSuffix(string(line), "\n"), apiV1)
		if !ok {
			tb.Fatalf("auditgen line without kind: %.80s", line)
		}
		items = append(items, it)
	}
	return eventList(apiV1, items...)
}

// BenchmarkSplit is the body→lines step alone: check the EventList, then
// write its lines, for a batch of 400 events (kube-apiserver's default
// --audit-webhook-batch-max-size).
func BenchmarkSplit(b *testing.B) {
	body := batch(b, 400)
	var s listScan
	var lines []byte
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.parse(body); err != nil {
			b.Fatal(err)
		}
		var err error
		if lines, err = s.appendLines(lines[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(400*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkJSONValid is what encoding/json.Valid alone costs on the same
// body, for comparison with BenchmarkSplit (which checks as much).
func BenchmarkJSONValid(b *testing.B) {
	body := batch(b, 400)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if !json.Valid(body) {
			b.Fatal("invalid")
		}
	}
	b.ReportMetric(float64(400*b.N)/b.Elapsed().Seconds(), "events/s")
}
