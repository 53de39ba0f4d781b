package jsonbytes

import (
	"bytes"
	"encoding/json"
	"testing"
)

// keysOf lists the top-level keys and raw values of a JSON object with
// encoding/json's tokenizer: the reference for Members.
func keysOf(b []byte) (keys []string, values []json.RawMessage, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, false
		}
		keys, values = append(keys, t.(string)), append(values, v)
	}
	return keys, values, true
}

func checkMembers(t *testing.T, b []byte) {
	var got []Member
	end, ok := Members(b, 0, func(m Member) bool { got = append(got, m); return true })
	if !json.Valid(b) || SkipSpace(b, 0) >= len(b) || b[SkipSpace(b, 0)] != '{' {
		return // only that it does not panic
	}
	keys, values, rok := keysOf(b)
	if !rok {
		return
	}
	if !ok || SkipSpace(b, end) != len(b) {
		t.Fatalf("Members(%q): ok %v, end %d", b, ok, end)
	}
	if len(got) != len(keys) {
		t.Fatalf("Members(%q): %d members, want %d", b, len(got), len(keys))
	}
	for i, m := range got {
		var k string
		if err := json.Unmarshal(b[m.KeyStart-1:m.KeyEnd+1], &k); err != nil || k != keys[i] {
			t.Fatalf("member %d of %q: key %q (%v), want %q", i, b, b[m.KeyStart:m.KeyEnd], err, keys[i])
		}
		if v := b[m.ValueStart:m.ValueEnd]; !bytes.Equal(v, values[i]) {
			t.Fatalf("member %d of %q: value %q, want %q", i, b, v, values[i])
		}
	}
}

func checkElements(t *testing.T, b []byte) {
	var got [][]byte
	end, ok := Elements(b, 0, func(s, e int) bool { got = append(got, b[s:e]); return true })
	var ref []json.RawMessage
	if json.Unmarshal(b, &ref) != nil {
		return
	}
	if !ok || SkipSpace(b, end) != len(b) || len(got) != len(ref) {
		t.Fatalf("Elements(%q): ok %v end %d, %d elements, want %d", b, ok, end, len(got), len(ref))
	}
	for i := range got {
		if !bytes.Equal(got[i], ref[i]) {
			t.Fatalf("element %d of %q: %q, want %q", i, b, got[i], ref[i])
		}
	}
}

var seeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a" : [1,{"b":"}"}] , "c\"d":null,"e":true}`, `{"a":"\\","b":-1.5e3}`,
	`[]`, `[1, "x", {"y":[2]}, null]`, `{"a":{"b":{"c":{}}}}`, `{"a":1,}`, `{"a"}`, `[1,]`, `{"\u0041":"\ud83d\ude00"}`,
}

func TestMembersAndElements(t *testing.T) {
	for _, s := range seeds {
		checkMembers(t, []byte(s))
		checkElements(t, []byte(s))
	}
	// Stopping early.
	n := 0
	Members([]byte(`{"a":1,"b":2,"c":3}`), 0, func(Member) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("walk went on after false: %d", n)
	}
}

func TestKeyIs(t *testing.T) {
	for _, c := range []struct {
		raw, name string
		want      bool
	}{
		{"level", "level", true}, {"Level", "level", true}, {"LEVEL", "level", true},
		{`\u006cevel`, "level", true}, {"levels", "level", false}, {"", "level", false},
		{"requestobject", "requestObject", true}, {`requestObjec\u0074`, "requestObject", true},
		{"\u212aind", "kind", true}, // the Kelvin sign folds to k, as in encoding/json
	} {
		if got := KeyIs([]byte(c.raw), c.name); got != c.want {
			t.Errorf("KeyIs(%q, %q) = %v", c.raw, c.name, got)
		}
	}
}

func TestStringValue(t *testing.T) {
	b := []byte(`"plain" "esc\"aped\u00e9" 12`)
	if v, ok := StringValue(b, 0, 7); !ok || string(v) != "plain" || &v[0] != &b[1] {
		t.Errorf("plain: %q %v", v, ok)
	}
	end, _ := SkipString(b, 8)
	if v, ok := StringValue(b, 8, end); !ok || string(v) != `esc"apedé` {
		t.Errorf("escaped: %q %v", v, ok)
	}
	if _, ok := StringValue(b, end+1, len(b)); ok {
		t.Error("a number is a string")
	}
}

func FuzzMembers(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkMembers(t, b)
		checkElements(t, b)
	})
}
