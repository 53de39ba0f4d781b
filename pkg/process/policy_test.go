package process

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/auditgen"
	"github.com/audittail/audittail/pkg/audit"
	"github.com/audittail/audittail/pkg/auditpolicy"
)

func loadPolicy(t testing.TB, name string) *auditpolicy.Policy {
	t.Helper()
	p, err := auditpolicy.Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// refStripMF removes managedFields the plain way: the object's, each list
// item's, each Table row object's.
func refStripMF(v any) {
	x, ok := v.(map[string]any)
	if !ok {
		return
	}
	if md, ok := x["metadata"].(map[string]any); ok {
		delete(md, "managedFields")
	}
	kind, _ := x["kind"].(string)
	if items, ok := x["items"].([]any); ok && strings.HasSuffix(kind, "List") {
		for _, it := range items {
			refStripMF(it)
		}
	}
	if rows, ok := x["rows"].([]any); ok && kind == "Table" {
		for _, r := range rows {
			if row, ok := r.(map[string]any); ok {
				refStripMF(row["object"])
			}
		}
	}
}

// refApply applies a policy result to a decoded event the plain way; false
// means dropped.
func refApply(ev map[string]any, r auditpolicy.Result, redact bool) bool {
	stage, _ := ev["stage"].(string)
	level, _ := ev["level"].(string)
	target, recorded := levelOrd(r.Level), levelOrd(level)
	if target <= lvNone || r.OmitStages.Has(stage) {
		return false
	}
	if recorded >= lvMetadata && target < recorded {
		ev["level"] = levelNames[target]
		if target <= lvRequest {
			delete(ev, "responseObject")
		}
		if target <= lvMetadata {
			delete(ev, "requestObject")
			if an, ok := ev["annotations"].(map[string]any); ok {
				for k := range an {
					if strings.HasPrefix(k, "patch.webhook.admission.k8s.io/") {
						delete(an, k)
					}
				}
			}
		}
	}
	if r.OmitManagedFields {
		if ev["verb"] != "patch" {
			refStripMF(ev["requestObject"])
		}
		refStripMF(ev["responseObject"])
	}
	if redact {
		refRedact(ev)
	}
	return true
}

// checkPolicy processes line under p and compares with the reference.
func checkPolicy(t *testing.T, s *Stage, p *auditpolicy.Policy, line []byte) (kept bool) {
	t.Helper()
	var ev audit.Event
	if audit.Parse(line, &ev) != nil {
		return false
	}
	attrs := auditpolicy.AttributesOf(&ev)
	r := p.Evaluate(&attrs)
	var want map[string]any
	if err := json.Unmarshal(line, &want); err != nil {
		return false
	}
	in := append([]byte(nil), line...)
	out, keep := s.Process(line, &ev)
	wantKeep := refApply(want, r, s.redact)
	if keep != wantKeep {
		t.Fatalf("kept %v, want %v (result %+v) for\n%s", keep, wantKeep, r, in)
	}
	if !keep {
		return false
	}
	var got map[string]any
	if err := json.Unmarshal(markerRE.ReplaceAll(out, []byte("<redacted>")), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(want, got) {
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(got)
		t.Fatalf("differs from the reference (result %+v):\n got %s\nwant %s\n  in %s", r, gj, wj, in)
	}
	// The event matches the line shipped.
	if lv, _ := got["level"].(string); lv != ev.Level {
		t.Fatalf("event level %q, line level %q", ev.Level, lv)
	}
	for _, b := range []struct {
		key  string
		body []byte
	}{{"requestObject", ev.RequestObject}, {"responseObject", ev.ResponseObject}} {
		raw, _ := json.Marshal(got[b.key])
		if _, present := got[b.key]; present != (len(b.body) > 0) {
			t.Fatalf("%s: in the line %v, in the event %d bytes", b.key, present, len(b.body))
		}
		if len(b.body) > 0 {
			var fromEvent any
			if err := json.Unmarshal(markerRE.ReplaceAll(b.body, []byte("<redacted>")), &fromEvent); err != nil {
				t.Fatalf("%s of the event is not the object: %v", b.key, err)
			}
			again, _ := json.Marshal(fromEvent)
			if string(again) != string(raw) {
				t.Fatalf("%s of the event differs from the line's", b.key)
			}
		}
	}
	return true
}

// The generated mix, the recorded sample and secrets.log, under a policy
// that drops, reduces and strips: every event agrees with the reference.
func TestPolicyMatchesReference(t *testing.T) {
	p := loadPolicy(t, "policy.yaml")
	for _, redact := range []bool{false, true} {
		s := New(p, redact)
		var lines [][]byte
		lines = append(lines, readLines(t, "secrets.log")...)
		lines = append(lines, readLines(t, "managedfields.log")...)
		lines = append(lines, readLines(t, "../../../examples/sample-audit.log")...)
		g := auditgen.New(auditgen.Config{Seed: 7})
		at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
		for i := range 20000 {
			lines = append(lines, g.Append(nil, int64(i), at.Add(time.Duration(i)*time.Millisecond)))
		}
		kept := 0
		for _, l := range lines {
			if checkPolicy(t, s, p, l) {
				kept++
			}
		}
		st := s.Stats()
		var dropped, reduced uint64
		for _, r := range st.Rules {
			dropped += r.Dropped
			reduced += r.Reduced
		}
		if dropped == 0 || reduced == 0 || kept == 0 {
			t.Fatalf("redact %v: %d kept, %d dropped, %d reduced: the policy does not exercise the stage", redact, kept, dropped, reduced)
		}
		t.Logf("redact %v: %d lines, %d kept, %d dropped, %d reduced, %d rewritten", redact, len(lines), kept, dropped, reduced, st.Rewritten)
	}
}

// managedfields.log under the policy: managedFields gone from the objects,
// list items and Table row objects, kept in the patch body; the exec's
// ResponseStarted omitted.
func TestManagedFieldsGolden(t *testing.T) {
	golden(t, "managedfields.policy.log", processAll(t, New(loadPolicy(t, "policy.yaml"), true), readLines(t, "managedfields.log")))
}

// The golden output of secrets.log under the policy: secrets reduced to
// Metadata (their bodies and the webhook patch annotation gone), the config
// map kept at Request with its managed fields.
func TestPolicyGolden(t *testing.T) {
	golden(t, "secrets.policy.log", processAll(t, New(loadPolicy(t, "policy.yaml"), true), readLines(t, "secrets.log")))
}
