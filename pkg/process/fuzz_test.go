package process

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/audittail/audittail/pkg/audit"
)

// refRedact is the redaction written the plain way, on the event decoded by
// encoding/json: the reference the byte-range rewriting is compared with.
// Redacted values become "<redacted>" (the hash is checked by the golden
// test; here both sides are normalised).
func refRedact(ev map[string]any) {
	ref, _ := ev["objectRef"].(map[string]any)
	c := bodyCtx{redact: true}
	if ref != nil {
		group, _ := ref["apiGroup"].(string)
		res, _ := ref["resource"].(string)
		sub, _ := ref["subresource"].(string)
		if group == "" {
			c.secrets = res == "secrets"
			c.tokenReq = res == "serviceaccounts" && sub == "token"
		}
		if group == "authentication.k8s.io" {
			c.tokenRev = res == "tokenreviews"
		}
	}
	for _, k := range []string{"requestObject", "responseObject"} {
		if v, ok := ev[k]; ok {
			ev[k] = refBody(v, c)
		}
	}
}

func refValue(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" {
			return x
		}
	case map[string]any:
		if len(x) == 0 {
			return x
		}
	case []any:
		if len(x) == 0 {
			return x
		}
	}
	return "<redacted>"
}

func refRedactAll(v any) {
	if m, ok := v.(map[string]any); ok {
		for k, y := range m {
			m[k] = refValue(y)
		}
	}
}

func refBody(v any, c bodyCtx) any {
	switch x := v.(type) {
	case []any:
		if c.secrets {
			for _, e := range x {
				op, ok := e.(map[string]any)
				if !ok {
					continue
				}
				val, has := op["value"]
				if !has {
					continue
				}
				p, _ := op["path"].(string)
				switch {
				case p == "/data" || p == "/stringData":
					if _, isObj := val.(map[string]any); isObj {
						refRedactAll(val)
					} else {
						op["value"] = refValue(val)
					}
				case strings.HasPrefix(p, "/data/") || strings.HasPrefix(p, "/stringData/"):
					op["value"] = refValue(val)
				case p == "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration":
					op["value"] = refValue(val)
				case p == "/metadata/annotations":
					if a, ok := val.(map[string]any); ok {
						if _, has := a[lastApplied]; has {
							a[lastApplied] = refValue(a[lastApplied])
						}
					}
				case p == "/metadata":
					if md, ok := val.(map[string]any); ok {
						if a, ok := md["annotations"].(map[string]any); ok {
							if _, has := a[lastApplied]; has {
								a[lastApplied] = refValue(a[lastApplied])
							}
						}
					}
				case p == "" || p == "/":
					op["value"] = refBody(val, bodyCtx{redact: true, secrets: true})
				}
			}
		}
		return x
	case map[string]any:
		kind, _ := x["kind"].(string)
		isSecret := kind == "Secret" || kind == "" && c.secrets
		if isSecret || c.secrets {
			if md, ok := x["metadata"].(map[string]any); ok {
				if a, ok := md["annotations"].(map[string]any); ok {
					if _, has := a[lastApplied]; has {
						a[lastApplied] = refValue(a[lastApplied])
					}
				}
			}
		}
		if isSecret {
			refRedactAll(x["data"])
			refRedactAll(x["stringData"])
		}
		if kind == "TokenRequest" || kind == "" && c.tokenReq {
			if st, ok := x["status"].(map[string]any); ok {
				if _, has := st["token"]; has {
					st["token"] = refValue(st["token"])
				}
			}
		}
		if kind == "TokenReview" || kind == "" && c.tokenRev {
			if sp, ok := x["spec"].(map[string]any); ok {
				if _, has := sp["token"]; has {
					sp["token"] = refValue(sp["token"])
				}
			}
		}
		if items, ok := x["items"].([]any); ok && strings.HasSuffix(kind, "List") {
			ic := c
			ic.secrets = c.secrets || kind == "SecretList"
			ic.tokenReq, ic.tokenRev = false, false
			for i, it := range items {
				items[i] = refBody(it, ic)
			}
		}
		if rows, ok := x["rows"].([]any); ok && kind == "Table" {
			for _, r := range rows {
				if row, ok := r.(map[string]any); ok {
					if o, has := row["object"]; has {
						row["object"] = refBody(o, c)
					}
				}
			}
		}
		return x
	}
	return v
}

var markerRE = regexp.MustCompile(`<redacted sha256:[0-9a-f]{8}>`)

// checkAgainstReference processes line (if the parser takes it) and
// compares the result with the reference, decoded.
func checkAgainstReference(t *testing.T, s *Stage, line []byte) {
	var ev audit.Event
	if audit.Parse(line, &ev) != nil {
		return
	}
	in := append([]byte(nil), line...)
	out, keep := s.Process(line, &ev)
	if !keep {
		t.Fatal("redaction dropped a line")
	}
	if !json.Valid(out) {
		t.Fatalf("output is not valid JSON:\n%s\nfrom\n%s", out, in)
	}
	var want, got map[string]any
	if err := json.Unmarshal(in, &want); err != nil {
		return // a line the fast parser takes but encoding/json does not: not this test's business
	}
	if err := json.Unmarshal(markerRE.ReplaceAll(out, []byte("<redacted>")), &got); err != nil {
		t.Fatal(err)
	}
	refRedact(want)
	if !reflect.DeepEqual(want, got) {
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(got)
		t.Fatalf("differs from the reference:\n got %s\nwant %s\n  in %s", gj, wj, in)
	}
}

// Every line of secrets.log agrees with the reference.
func TestRedactMatchesReference(t *testing.T) {
	s := New(nil, true)
	for _, l := range readLines(t, "secrets.log") {
		checkAgainstReference(t, s, l)
	}
}

// FuzzRedact: for any line the parser accepts, the rewritten line is valid
// JSON and decodes to what the reference redaction makes of the input.
func FuzzRedact(f *testing.F) {
	for _, l := range readLines(f, "secrets.log") {
		f.Add(l)
	}
	f.Add([]byte(`{"auditID":"a","stage":"ResponseComplete","objectRef":{"resource":"secrets"},"requestObject":[{"op":"add","path":"/","value":{"data":{"a":"b"}}}]}`))
	f.Add([]byte(`{"auditID":"a","stage":"ResponseComplete","requestObject":{ "kind" : "Secret" , "data" : { "x" : "\u0041bc" , "y":null,"z":{}} , "kind":"Secret"}}`))
	s := New(nil, true)
	f.Fuzz(func(t *testing.T, line []byte) {
		checkAgainstReference(t, s, line)
	})
}
