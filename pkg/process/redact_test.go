package process

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audittail/audittail/pkg/audit"
	"github.com/audittail/audittail/pkg/gelf"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// readLines returns the lines of a testdata file.
func readLines(t testing.TB, name string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	return lines
}

// processAll runs the stage over lines; a dropped line is "-".
func processAll(t testing.TB, s *Stage, lines [][]byte) []string {
	t.Helper()
	var out []string
	var ev audit.Event
	for i, l := range lines {
		if err := audit.Parse(l, &ev); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		got, keep := s.Process(l, &ev)
		if !keep {
			out = append(out, "-")
			continue
		}
		if !json.Valid(got) {
			t.Fatalf("line %d: output is not valid JSON:\n%s", i+1, got)
		}
		out = append(out, string(got))
	}
	return out
}

func golden(t *testing.T, name string, got []string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	text := strings.Join(got, "\n") + "\n"
	if *update {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if string(want) != text {
		wl, gl := strings.Split(string(want), "\n"), strings.Split(text, "\n")
		for i := range max(len(wl), len(gl)) {
			var w, g string
			if i < len(wl) {
				w = wl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if w != g {
				t.Errorf("%s line %d:\n got %s\nwant %s", name, i+1, g, w)
			}
		}
	}
}

// Every case of secrets.log, redacted, byte for byte.
func TestRedactGolden(t *testing.T) {
	golden(t, "secrets.redacted.log", processAll(t, New(nil, true), readLines(t, "secrets.log")))
}

// Without redaction and without a policy, every line is returned as it
// is, the same slice.
func TestInactive(t *testing.T) {
	s := New(nil, false)
	if s.Active() {
		t.Error("a stage with nothing to do says it is active")
	}
	var ev audit.Event
	for _, l := range readLines(t, "secrets.log") {
		if err := audit.Parse(l, &ev); err != nil {
			t.Fatal(err)
		}
		if got, keep := s.Process(l, &ev); !keep || &got[0] != &l[0] || len(got) != len(l) {
			t.Fatal("the line was copied or dropped")
		}
	}
}

// secretValues walks a decoded event the simple way and returns every
// secret value in it (and, for base64 data, the decoded value too).
func secretValues(v any, inSecrets bool) []string {
	var out []string
	add := func(x any) {
		switch s := x.(type) {
		case string:
			if len(s) >= 6 {
				out = append(out, s)
				if d, err := base64.StdEncoding.DecodeString(s); err == nil && len(d) >= 6 {
					out = append(out, string(d))
				}
			}
		case map[string]any:
			for _, y := range s {
				if str, ok := y.(string); ok && len(str) >= 6 {
					out = append(out, str)
					if d, err := base64.StdEncoding.DecodeString(str); err == nil && len(d) >= 6 {
						out = append(out, string(d))
					}
				}
			}
		}
	}
	var walk func(v any, secrets bool)
	walk = func(v any, secrets bool) {
		switch x := v.(type) {
		case map[string]any:
			kind, _ := x["kind"].(string)
			if kind == "Secret" || kind == "" && secrets {
				add(x["data"])
				add(x["stringData"])
				if md, ok := x["metadata"].(map[string]any); ok {
					if an, ok := md["annotations"].(map[string]any); ok {
						add(an[lastApplied])
					}
				}
			}
			if kind == "TokenRequest" {
				if st, ok := x["status"].(map[string]any); ok {
					add(st["token"])
				}
			}
			if kind == "TokenReview" {
				if sp, ok := x["spec"].(map[string]any); ok {
					add(sp["token"])
				}
			}
			for k, y := range x {
				walk(y, secrets && (k == "items" || k == "object" || k == "rows"))
			}
		case []any:
			for _, y := range x {
				if op, ok := y.(map[string]any); ok && secrets {
					if p, _ := op["path"].(string); strings.HasPrefix(p, "/data") || strings.HasPrefix(p, "/stringData") {
						add(op["value"])
					}
				}
				walk(y, secrets)
			}
		}
	}
	walk(v, inSecrets)
	return out
}

// No secret value of secrets.log, nor its base64 decoding, appears
// anywhere in any GELF message; values that are not secret still do.
func TestNoSecretLeaves(t *testing.T) {
	enc, err := gelf.NewEncoder(gelf.Config{Host: "cp-1"})
	if err != nil {
		t.Fatal(err)
	}
	s := New(nil, true)
	var ev audit.Event
	total := 0
	for i, l := range readLines(t, "secrets.log") {
		var decoded map[string]any
		if err := json.Unmarshal(l, &decoded); err != nil {
			t.Fatal(err)
		}
		ref, _ := decoded["objectRef"].(map[string]any)
		secretsReq := ref["resource"] == "secrets"
		var values []string
		for _, k := range []string{"requestObject", "responseObject"} {
			values = append(values, secretValues(decoded[k], secretsReq)...)
		}
		// A value that is also outside the bodies (the token-id of a
		// bootstrap token is in the Secret's name) is not a leak.
		public := map[string]any{}
		for k, v := range decoded {
			if k != "requestObject" && k != "responseObject" {
				public[k] = v
			}
		}
		pub, _ := json.Marshal(public)
		values = slicesDeleteFunc(values, func(v string) bool { return bytes.Contains(pub, []byte(v)) })
		total += len(values)
		if err := audit.Parse(l, &ev); err != nil {
			t.Fatal(err)
		}
		out, keep := s.Process(l, &ev)
		if !keep {
			t.Fatalf("line %d dropped", i+1)
		}
		msg, _ := enc.Encode(nil, &gelf.Record{Line: out, Event: &ev, LineSize: int64(len(l))})
		// Compare with the message decoded too: escapes must not hide a value.
		var m map[string]any
		if err := json.Unmarshal(msg, &m); err != nil {
			t.Fatal(err)
		}
		flat, _ := json.Marshal(m)
		for _, v := range values {
			for _, hay := range [][]byte{msg, flat, []byte(m["full_message"].(string))} {
				if bytes.Contains(hay, []byte(v)) {
					t.Errorf("line %d: secret %q is in the message", i+1, v)
				}
			}
		}
	}
	if total < 20 {
		t.Fatalf("only %d secret values in the test data: the walk finds nothing", total)
	}
	st := s.Stats()
	if st.Redacted["secret_data"] == 0 || st.Redacted["last_applied"] == 0 || st.Redacted["token"] != 3 {
		t.Errorf("redaction counts %v", st.Redacted)
	}
	// A ConfigMap's data is not a secret: it is shipped.
	for _, l := range readLines(t, "secrets.log") {
		if bytes.Contains(l, []byte(`"ConfigMap"`)) {
			if err := audit.Parse(l, &ev); err != nil {
				t.Fatal(err)
			}
			out, _ := s.Process(l, &ev)
			for _, v := range []string{"color.good=purple", "not-a-secret-value"} {
				if bytes.Contains(l, []byte(v)) && !bytes.Contains(out, []byte(v)) {
					t.Errorf("config map value %q was redacted:\n%s", v, out)
				}
			}
		}
	}
}

func slicesDeleteFunc(s []string, del func(string) bool) []string {
	out := s[:0]
	for _, v := range s {
		if !del(v) {
			out = append(out, v)
		}
	}
	return out
}
